// Static file server on Go's net/http: `fileserver DIR [ADDR]` (default 127.0.0.1:8080).
//
// http.FileServer(http.Dir(DIR)) and nothing else, as `nethttp serve -q DIR` is: no access
// log. Over plain TCP, Go sends file bodies with sendfile(2) through the ResponseWriter's
// ReadFrom. benches/files.sh runs it against nethttp and nginx.
package main

import (
	"log"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		log.Fatal("usage: fileserver DIR [ADDR]")
	}
	addr := "127.0.0.1:8080"
	if len(os.Args) > 2 {
		addr = os.Args[2]
	}
	log.Fatal(http.ListenAndServe(addr, http.FileServer(http.Dir(os.Args[1]))))
}
