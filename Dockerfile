# The logway image: one image, every component (`logway run processor|sink|...`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY logway ./logway
COPY streams ./streams
COPY topology ./topology
COPY connectors ./connectors
RUN pip install --no-cache-dir . && mkdir -p /var/lib/logway && chown 65534:65534 /var/lib/logway
COPY examples ./examples

USER 65534:65534
ENV LOGWAY_PROCESSOR_DATA_DIR=/var/lib/logway/processor
ENTRYPOINT ["logway"]
CMD ["--help"]
