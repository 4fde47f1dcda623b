# syntax=docker/dockerfile:1
# Multi-stage build: a static-ish binary on a small, non-root runtime image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# cgo stays on for the PKCS#11 (HSM) key provider.
RUN go build -trimpath -ldflags "-s -w -X github.com/vargate/vargate.Version=${VERSION}" -o /out/vargate ./cmd/vargate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home /data --shell /usr/sbin/nologin vargate \
    && mkdir -p /data && chown vargate /data && chmod 0700 /data
COPY --from=build /out/vargate /usr/local/bin/vargate
USER vargate
ENV VARGATE_DATA_DIR=/data VARGATE_LISTEN=0.0.0.0:8000 VARGATE_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD ["vargate", "healthcheck"]
ENTRYPOINT ["vargate"]
CMD ["serve"]
