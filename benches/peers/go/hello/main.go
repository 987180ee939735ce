// Hello-world plaintext server on Go's net/http: `hello [ADDR [CERT.pem KEY.pem]]` (default
// 127.0.0.1:8080). With a certificate and key it serves TLS, where net/http offers HTTP/2
// through ALPN by itself (benches/h2.sh).
//
// Every request gets 200 OK (/big: 256 KiB of zeros), Content-Type: text/plain and the 13-byte body "Hello, World!"
// (net/http adds Content-Length and Date), with keep-alive, as nethttp-hello and hyper-hello do.
// /read sends the response head at once, then reads the request body to its end before the
// body "Hello, World!": a request whose body never ends holds its handler, as in
// nethttp-hello-tls (benches/h2_mem.sh).
package main

import (
	"io"
	"log"
	"net/http"
	"os"
)

var body = []byte("Hello, World!")

// big is the body of /big: larger than a client buffers at once, so a client holding the
// response unread keeps its connection busy (benches/client_idle.rs).
var big = make([]byte, 256<<10)

func main() {
	addr := "127.0.0.1:8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		switch r.URL.Path {
		case "/big":
			w.Write(big)
			return
		case "/read":
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			io.Copy(io.Discard, r.Body)
		}
		w.Write(body)
	})
	if len(os.Args) > 3 {
		log.Fatal(http.ListenAndServeTLS(addr, os.Args[2], os.Args[3], h))
	}
	log.Fatal(http.ListenAndServe(addr, h))
}
