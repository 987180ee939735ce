// Resident memory per idle HTTP/2 client connection with Go's net/http client, the
// counterpart of benches/peers/rust's h2-idle-client: `h2idle N PORT CERT.pem`
// (benches/h2_mem.sh).
//
// One http.Client (ForceAttemptHTTP2, trusting CERT.pem, whose names must cover *.h2.test)
// sends a GET to https://cK.h2.test:PORT/ for K in 0..N. Its dialer connects every name to
// 127.0.0.1, so the requests reach one local server while each host is a connection of its
// own. Every response is read to its end and must come over HTTP/2. Then the N connections
// idle in the pool, and the growth of the process's VmRSS divided by N is printed as one
// JSON line. No GC is forced: the number is what the process holds, as for the Rust client.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func rssKiB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if strings.HasPrefix(s.Text(), "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(s.Text())[1], 10, 64)
			return v
		}
	}
	return 0
}

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "h2idle: "+format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: h2idle N PORT CERT.pem")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[1])
	if err != nil || n < 1 {
		fail("bad N %q", os.Args[1])
	}
	port := os.Args[2]
	pem, err := os.ReadFile(os.Args[3])
	if err != nil {
		fail("%v", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		fail("%s holds no certificate", os.Args[3])
	}
	var dials int64
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			atomic.AddInt64(&dials, 1)
			return dialer.DialContext(ctx, network, "127.0.0.1:"+port)
		},
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
	}
	client := &http.Client{Transport: tr}
	get := func(url string) {
		resp, err := client.Get(url)
		if err != nil {
			fail("%v", err)
		}
		if resp.ProtoMajor != 2 {
			fail("%s: response over %s, not HTTP/2", url, resp.Proto)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			fail("%s: body: %v", url, err)
		}
		resp.Body.Close()
	}
	// Warm up: one connection, so what the first request allocates once is not counted.
	get("https://warm.h2.test:" + port + "/")
	tr.CloseIdleConnections()
	time.Sleep(500 * time.Millisecond)
	before := rssKiB()
	for k := 0; k < n; k++ {
		get(fmt.Sprintf("https://c%d.h2.test:%s/", k, port))
	}
	time.Sleep(time.Second)
	after := rssKiB()
	conns := atomic.LoadInt64(&dials) - 1
	fmt.Printf(`{"impl":"go","conns":%d,"goroutines":%d,"rss_before_kib":%d,"rss_after_kib":%d,"per_conn_bytes":%d}`+"\n",
		conns, runtime.NumGoroutine(), before, after, (after-before)*1024/conns)
}
