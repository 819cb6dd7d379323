package provider

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzTokenResponse feeds arbitrary answers to the token-response parser:
// it must never panic, a success must have an access token, and a failure
// must be a classified *Error whose message carries no provider text.
func FuzzTokenResponse(f *testing.F) {
	f.Add(200, []byte(`{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","id_token":"x.y.z","scope":"openid"}`))
	f.Add(400, []byte(`{"error":"invalid_grant","error_description":"d"}`))
	f.Add(200, []byte(`{"error":"x"}`))
	f.Add(503, []byte(`oops`))
	f.Add(200, []byte(`{"access_token":5}`))
	f.Add(200, []byte(`{"access_token":"a"}{"x":1}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		tok, err := ParseTokenResponse("https://op/token", &http.Response{StatusCode: status, Header: http.Header{}}, body)
		if err == nil {
			if tok.AccessToken == "" || status > 299 {
				t.Fatalf("accepted %d %q", status, body)
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) || e.Class() == 0 {
			t.Fatalf("unclassified %v", err)
		}
		if e.Code != "" && Code(e.Code) != e.Code {
			t.Fatalf("unsanitised code %q", e.Code)
		}
	})
}
