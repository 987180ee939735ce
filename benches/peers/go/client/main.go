// Load driver for the client benchmarks with Go's net/http client; same command line and JSON
// as the Rust client-bench (--impl accepts only "go"):
//
//	client --url URL --mode seq|par [--threads 8] [--duration 5s | --requests N] [--warmup 200] [--ctxsw]
//	       [--tls-ca CERT.pem] [--h2]
//
// One http.Client shared by every goroutine, with MaxIdleConnsPerHost set to the thread count
// so parallel callers keep their connections. Every body is read to its end. With --ctxsw,
// context switches and CPU time per request come from getrusage(RUSAGE_SELF). "dials" counts
// the connections dialled during the run, "dials_total" those since the start.
//
// --tls-ca trusts that certificate for https:// URLs; --h2 sets ForceAttemptHTTP2 (needed
// once the transport has its own dialer and TLS configuration), so every goroutine shares one
// HTTP/2 connection, and fails the run if a response comes over another protocol. With --h2
// one request is sent alone before the parallel warm-up: goroutines racing to the first dial
// would each dial, and all but one of those connections would be closed again
// (benches/h2_client.sh). "version" is the first response's protocol.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(v * float64(time.Second)), nil
}

type usage struct{ vol, invol, cpuUs int64 }

func getUsage() usage {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	us := func(t syscall.Timeval) int64 { return t.Sec*1e6 + t.Usec }
	return usage{ru.Nvcsw, ru.Nivcsw, us(ru.Utime) + us(ru.Stime)}
}

func percentile(sorted []int64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1)*p + 0.5)
	return float64(sorted[i]) / 1000
}

func main() {
	impl := flag.String("impl", "go", "implementation (only \"go\")")
	url := flag.String("url", "", "URL to GET")
	mode := flag.String("mode", "", "seq or par")
	threads := flag.Int("threads", 8, "goroutines in par mode")
	durS := flag.String("duration", "5s", "how long to run")
	requests := flag.Int64("requests", 0, "stop after this many requests instead")
	warmup := flag.Int("warmup", 200, "untimed requests per goroutine first")
	ctxsw := flag.Bool("ctxsw", false, "report context switches and CPU time per request")
	tlsCA := flag.String("tls-ca", "", "PEM certificate to trust for https:// URLs")
	h2 := flag.Bool("h2", false, "speak HTTP/2 (one shared connection); fail on any other protocol")
	flag.Parse()
	if *impl != "go" || *url == "" || (*mode != "seq" && *mode != "par") {
		fmt.Fprintln(os.Stderr, "usage: client --url URL --mode seq|par [--threads N] [--duration 5s | --requests N] [--warmup N] [--ctxsw]")
		os.Exit(2)
	}
	dur, err := parseDuration(*durS)
	if err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(2)
	}
	n := *threads
	if *mode == "seq" || n < 1 {
		n = 1
	}
	// The default transport's dialer, counting dials.
	var dials int64
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		MaxIdleConns:        100,
		MaxIdleConnsPerHost: n,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			atomic.AddInt64(&dials, 1)
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2: *h2,
	}
	if *tlsCA != "" {
		pem, err := os.ReadFile(*tlsCA)
		if err != nil {
			fmt.Fprintln(os.Stderr, "client:", err)
			os.Exit(2)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			fmt.Fprintln(os.Stderr, "client:", *tlsCA, "holds no certificate")
			os.Exit(2)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	}
	client := &http.Client{Transport: tr}
	var version atomic.Value
	get := func() error {
		resp, err := client.Get(*url)
		if err != nil {
			return err
		}
		if version.Load() == nil {
			version.Store(resp.Proto)
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode/100 != 2 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if err == nil && *h2 && resp.ProtoMajor != 2 {
			err = fmt.Errorf("response over %s, not HTTP/2", resp.Proto)
		}
		return err
	}

	if *h2 {
		if err := get(); err != nil {
			fmt.Fprintln(os.Stderr, "client: first request failed:", err)
			os.Exit(1)
		}
	}

	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < *warmup; j++ {
				if err := get(); err != nil {
					fmt.Fprintln(os.Stderr, "client: warm-up request failed:", err)
					os.Exit(1)
				}
			}
		}()
	}
	wg.Wait()

	var issued int64
	lats := make([][]int64, n)
	errs := make([]int64, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			lat := make([]int64, 0, 1<<16)
			<-start
			begin := time.Now()
			for {
				if *requests > 0 {
					if atomic.AddInt64(&issued, 1) > *requests {
						break
					}
				} else if time.Since(begin) >= dur {
					break
				}
				t0 := time.Now()
				if err := get(); err != nil {
					if errs[i] == 0 {
						fmt.Fprintln(os.Stderr, "client: request failed:", err)
					}
					errs[i]++
					continue
				}
				lat = append(lat, int64(time.Since(t0)))
			}
			lats[i] = lat
		}(i)
	}
	dialsBefore := atomic.LoadInt64(&dials)
	before := getUsage()
	t0 := time.Now()
	close(start)
	wg.Wait()
	seconds := time.Since(t0).Seconds()
	after := getUsage()
	dialsRun := atomic.LoadInt64(&dials) - dialsBefore

	var all []int64
	var errors int64
	for i := range lats {
		all = append(all, lats[i]...)
		errors += errs[i]
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	reqs := int64(len(all))
	var b strings.Builder
	fmt.Fprintf(&b, `{"impl":"go","mode":"%s","threads":%d,"requests":%d,"errors":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%.1f,"p99_us":%.1f`,
		*mode, n, reqs, errors, seconds, float64(reqs)/seconds, percentile(all, 0.50), percentile(all, 0.99))
	fmt.Fprintf(&b, `,"dials":%d,"dials_total":%d`, dialsRun, atomic.LoadInt64(&dials))
	if v, ok := version.Load().(string); ok {
		fmt.Fprintf(&b, `,"version":"%s"`, v)
	}
	if *ctxsw {
		d := float64(reqs)
		if d < 1 {
			d = 1
		}
		vol := float64(after.vol-before.vol) / d
		invol := float64(after.invol-before.invol) / d
		fmt.Fprintf(&b, `,"ctxsw_per_req":%.3f,"ctxsw_voluntary_per_req":%.3f,"ctxsw_involuntary_per_req":%.3f,"cpu_us_per_req":%.2f`,
			vol+invol, vol, invol, float64(after.cpuUs-before.cpuUs)/d)
	}
	b.WriteString("}")
	fmt.Println(b.String())
	if reqs == 0 {
		os.Exit(1)
	}
}
