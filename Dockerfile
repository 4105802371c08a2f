# The controller image: `docker build -t <registry>/sealer-controller:<version> .`
# Two stages: the build stage installs the package and its dependencies under /install; the
# final image gets only that, runs as uid 1001 (numeric, so Kubernetes' runAsNonRoot can check
# it) and starts the controller (deploy/deployment.yaml passes the flags as args).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sealer ./sealer
COPY controller ./controller
RUN pip install --no-cache-dir --disable-pip-version-check --prefix=/install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /install /usr/local
RUN groupadd --gid 1001 sealer && useradd --uid 1001 --gid 1001 --no-create-home sealer
USER 1001:1001
EXPOSE 8080 8081
ENTRYPOINT ["sealer-controller"]
