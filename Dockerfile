# replset-agent image: one static binary, nothing else. The mongo-agent sidekick runs it directly; the
# agent-install sidekick copies it into a shared volume for the stock Let's Chat image.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/replset-agent/replset-agent/agent.Version=${VERSION}" \
      -o /out/replset-agent . \
 && mkdir -p /out/opt/replset-agent

FROM scratch
# The fixed path that `install` users and the catalog template rely on.
COPY --from=build /out/replset-agent /usr/local/bin/replset-agent
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# A new volume is filled from this path: the binary is in the shared volume even before the
# install sidekick has run (Rancher starts the app once the sidekick has started, not finished), and
# the volume inherits the ownership, so the non-root install can keep it current.
COPY --from=build --chown=65532:65532 /out/opt/replset-agent /opt/replset-agent
COPY --from=build --chown=65532:65532 /out/replset-agent /opt/replset-agent/replset-agent
USER 65532:65532
VOLUME /opt/replset-agent
ENTRYPOINT ["/usr/local/bin/replset-agent"]
CMD ["--help"]
