package oidcsession

import "context"

// WithStore keeps sessions on the server in st: the cookie holds only a
// reference, sessions can be revoked, and a copied cookie replayed after
// its session rotated is detected. st also coordinates refresh grants
// across replicas. Default: sessions live in sealed cookies.
func WithStore(st Store) Option {
	return func(c *config) { c.store = st }
}

// WithCoordinator shares refresh grants across replicas through co while
// sessions stay in cookies, so that a rotating refresh token is presented
// once however many replicas see it expire. With WithStore the store
// coordinates. Default: in-process, which is right for one replica.
func WithCoordinator(co Coordinator) Option {
	return func(c *config) { c.coordinator = co }
}

// WithOnTokenReuse sets a hook called when a server-side session's cookie
// is replayed after rotation and the session is revoked for it. Default:
// none.
func WithOnTokenReuse(f func(ctx context.Context, r TokenReuse)) Option {
	return func(c *config) { c.onTokenReuse = f }
}
