// Go's net/http server as an HTTP/2 upstream of tests/h2_client_interop.rs:
// `goh2 ADDR CERT.pem KEY.pem`. Over TLS net/http offers h2 by ALPN by itself. The same paths
// as the other upstreams there: GET /small.txt (a line of text), GET /big.bin (1 MiB of
// peers::pattern), GET /trailers (a line, then the trailer X-Sum: 42), POST to any path (the
// request body back), anything else 404. Every response says the protocol it went over in
// X-Http-Version.
package main

import (
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) != 4 {
		log.Fatal("usage: goh2 ADDR CERT.pem KEY.pem")
	}
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7 % 251)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Http-Version", r.Proto)
		switch {
		case r.Method == http.MethodPost:
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body)
		case r.URL.Path == "/small.txt":
			io.WriteString(w, "hello from go\n")
		case r.URL.Path == "/big.bin":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(big)
		case r.URL.Path == "/trailers":
			w.Header().Set("Trailer", "X-Sum")
			io.WriteString(w, "body\n")
			w.Header().Set("X-Sum", "42")
		default:
			http.NotFound(w, r)
		}
	})
	log.Fatal(http.ListenAndServeTLS(os.Args[1], os.Args[2], os.Args[3], h))
}
