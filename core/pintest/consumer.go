package pintest

import "net/http"

type consumerState struct{}

func (c *consumerState) init() {}

func (g *Gateway) serveConsumer(w http.ResponseWriter, r *http.Request) {
	httpError(w, http.StatusNotFound, "pintest: no such endpoint "+r.URL.Path)
}
