# One image for the four services: `python -m <module>`, the module given as the command
# (k8s/ sets `args: ["gateway.server"]` and so on). Packages come from PyPI only.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

# Builder: dependencies into a venv, stubs generated, the bundled model built from its recipe.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH=/app/gen:/app
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
COPY requirements.txt requirements-dev.txt ./
RUN pip install -r requirements.txt "$(grep '^grpcio-tools==' requirements-dev.txt)"
COPY protos ./protos
RUN mkdir gen && python -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen \
        --grpc_python_out=gen $(find protos -name '*.proto')
COPY common ./common
COPY services ./services
COPY gateway ./gateway
COPY cli ./cli
COPY suite ./suite
COPY learning ./learning
COPY demo ./demo
RUN python -m services.ranker.model_recipe --out var/models/bundled.onnx \
    && pip uninstall -y grpcio-tools \
    && python -m compileall -q /app/gen /app/common /app/services /app/gateway /app/cli /app/suite /app/learning /app/demo

# Runtime: the venv and the application, no build tools, a non-root user.
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH=/app/gen:/app PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 keyart \
    && useradd --system --uid 10001 --gid keyart --no-create-home --shell /usr/sbin/nologin keyart
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app/gen /app/gen
COPY --from=builder /app/common /app/common
COPY --from=builder /app/services /app/services
COPY --from=builder /app/gateway /app/gateway
COPY --from=builder /app/cli /app/cli
COPY --from=builder /app/suite /app/suite
COPY --from=builder /app/learning /app/learning
COPY --from=builder /app/demo /app/demo
COPY --from=builder /app/var/models /app/var/models
WORKDIR /app
USER 10001:10001
EXPOSE 50051 50052 50053 50054 8086
ENTRYPOINT ["python", "-m"]
CMD ["gateway.server"]
