# replset-agent image: one static binary, nothing else. The install sidekicks (mongo-agent-install,
# agent-install) copy it into a shared volume, from which it is the entrypoint of the stock mongo and
# Let's Chat images.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The release this image is: `replset-agent version` prints it, and the catalog template pins the
# image tag of the same name (agent/image_test.go keeps the two equal). Override for other builds.
ARG VERSION=0.1.0
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/replset-agent/replset-agent/agent.Version=${VERSION}" \
      -o /out/replset-agent . \
 && mkdir -p /out/opt/replset-agent

FROM scratch
# The fixed path that `install` users and the catalog template rely on.
COPY --from=build /out/replset-agent /usr/local/bin/replset-agent
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# A copy at the path the install sidekick mounts as a volume (declared in the compose file, not here):
# Docker fills a new volume from the image's content at its path, so the shared volume holds the
# binary even before the install command has run (Rancher starts the app once the sidekick has
# started, not finished), and the volume inherits the ownership, so the non-root install can keep it
# current. No VOLUME instruction: it would give every container of this image an anonymous volume,
# also where the image runs on its own (`status`, or `mongo` beside a mongod of your own), which
# shares nothing — one stray volume per host and per upgrade.
COPY --from=build --chown=65532:65532 /out/opt/replset-agent /opt/replset-agent
COPY --from=build --chown=65532:65532 /out/replset-agent /opt/replset-agent/replset-agent
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/replset-agent"]
CMD ["--help"]
