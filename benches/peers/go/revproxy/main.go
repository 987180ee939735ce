// Reverse proxy on Go's net/http/httputil: `revproxy ADDR UPSTREAM`, e.g.
// `revproxy 127.0.0.1:8081 http://127.0.0.1:8080`.
//
// httputil.NewSingleHostReverseProxy(UPSTREAM) and nothing else, but for its transport: Go's
// DefaultTransport keeps at most 2 idle connections per host (MaxIdleConnsPerHost), which
// under 64 client connections would close and redial upstream connections all the time, so
// this one keeps up to 1024 (nethttp's Transport keeps 32 by default). No access log; the
// proxy's error log is discarded. benches/proxy.sh runs it against nethttp's proxy.
package main

import (
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: revproxy ADDR UPSTREAM")
	}
	target, err := url.Parse(os.Args[2])
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("revproxy: UPSTREAM must be an absolute URL such as http://host:port")
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConns = 1024
	transport.MaxIdleConnsPerHost = 1024
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = transport
	proxy.ErrorLog = log.New(io.Discard, "", 0)
	log.Fatal(http.ListenAndServe(os.Args[1], proxy))
}
