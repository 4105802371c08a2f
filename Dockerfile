# The controller image: `docker build -t sealer-controller .`
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sealer ./sealer
COPY controller ./controller
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN groupadd --gid 1001 sealer && useradd --uid 1001 --gid 1001 --no-create-home sealer
USER 1001:1001
EXPOSE 8080 8081
ENTRYPOINT ["sealer-controller"]
