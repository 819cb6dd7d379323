package otel_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/oauth2"

	"github.com/oidcsession/oidcsession"
	"github.com/oidcsession/oidcsession/otel"
)

// The instrumentation comes first, its options go to oidcsession.New,
// and the cache is observed once the Middleware exists. Here with SDK
// providers of its own (exporters left out); without
// WithMeterProvider and WithTracerProvider the global ones are used.
func Example() {
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, "https://accounts.example.com")
	if err != nil {
		log.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider( /* sdkmetric.WithReader(…) */ )
	tp := sdktrace.NewTracerProvider( /* sdktrace.WithBatcher(…) */ )
	inst, err := otel.New(provider,
		otel.WithMeterProvider(mp),
		otel.WithTracerProvider(tp),
		otel.WithHTTPClient(&http.Client{Timeout: 15 * time.Second}), // instead of oidcsession.WithHTTPClient
		otel.WithPropagators(propagation.TraceContext{}),             // only if the provider should join traces
	)
	if err != nil {
		log.Fatal(err)
	}
	m, err := oidcsession.New(provider, oauth2.Config{
		ClientID: "app", ClientSecret: "…", RedirectURL: "https://app.example.com/auth/callback",
		Scopes: []string{oidc.ScopeOpenID, oidc.ScopeOfflineAccess},
	}, append(inst.Options(), oidcsession.WithKeys(make([]byte, 32), make([]byte, 32)))...)
	if err != nil {
		log.Fatal(err)
	}
	stop, err := inst.ObserveCache(m)
	if err != nil {
		log.Fatal(err)
	}
	defer stop()

	mux := http.NewServeMux()
	mux.Handle("GET /auth/callback", m.CallbackHandler())
	mux.Handle("/app/", m.Require()(http.NotFoundHandler()))
}

// A hook of your own runs beside the instrumentation's: call OnEvent from
// it, since a later WithOnEvent replaces an earlier one.
func ExampleInstrumentation_OnEvent() {
	provider, err := oidc.NewProvider(context.Background(), "https://accounts.example.com")
	if err != nil {
		log.Fatal(err)
	}
	inst, err := otel.New(provider)
	if err != nil {
		log.Fatal(err)
	}
	opts := []oidcsession.Option{
		oidcsession.WithHTTPClient(inst.HTTPClient()),
		oidcsession.WithOnEvent(func(ctx context.Context, e oidcsession.Event) {
			inst.OnEvent(ctx, e)
			if e.Kind == oidcsession.EventTokenReuse {
				log.Print("a session cookie was replayed") // page someone
			}
		}),
	}
	_, _ = oidcsession.New(provider, oauth2.Config{ClientID: "app"}, append(opts, oidcsession.WithKeys(make([]byte, 32), make([]byte, 32)))...)
}
