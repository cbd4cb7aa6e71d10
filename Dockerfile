# kindlab's own image: the kindlab binary and the docker CLI on the toolbox's Debian
# root filesystem. There is no registry here, so the base is an image that
# `kindlab images build` made; `make platform-image` builds this file:
#
#   docker build --build-arg BASE=kindlab/toolbox:lab -t kindlab/server .
#
# Run it with the host's Docker socket and the host's network (learner clusters'
# API servers listen on the host's 127.0.0.1), and a volume for the state:
#
#   docker run -d --network host -v /var/run/docker.sock:/var/run/docker.sock \
#     -v kindlab-state:/state kindlab/server
ARG BASE=kindlab/toolbox:lab
FROM ${BASE}
COPY bin/image/kindlab bin/image/docker /usr/local/bin/
ENV KINDLAB_STATE=/state HOME=/state
USER root
WORKDIR /state
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kindlab"]
CMD ["serve", "--addr", "127.0.0.1:8080"]
