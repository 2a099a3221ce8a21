// A SPDY/3.1 client for uvmd's streaming server tests, on Debian's
// moby/spdystream (what Kubernetes' httpstream/spdy uses), independent of
// the server's C code. It does what client-go's remotecommand and
// portforward clients do on the wire, driven by flags:
//
//	spdyclient -url URL [-proto V]... exec [-streams error,stdin,...] [-resize JSON]
//	spdyclient -url URL [-proto V]... portforward -port P [-requests N] [-send S | -send-file F]
//
// Lines for the test start with "spdyclient: " on stderr (exec) or are
// JSON on stdout (portforward). Exit codes: the command's (exec), 90 the
// upgrade was refused, 91 a stream failed, 92 a failure Status.
// Build: GO111MODULE=off GOPATH=/usr/share/gocode go build -o OUT main.go
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/spdystream"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

var (
	rawURL      = flag.String("url", "", "the streaming URL")
	protos      listFlag
	streamsFlag = flag.String("streams", "error,stdout,stderr", "exec: stream types to open, in order")
	resize      = flag.String("resize", "", "exec: bytes to send on the resize stream")
	resizeDelay = flag.Duration("resize-delay", 100*time.Millisecond, "exec: wait before resizing")
	statusFile  = flag.String("status-file", "", "exec: where the error stream's content goes")
	port        = flag.String("port", "", "portforward: the port header")
	requests    = flag.Int("requests", 1, "portforward: request ids, in parallel")
	send        = flag.String("send", "", "portforward: bytes to send on each data stream")
	sendFile    = flag.String("send-file", "", "portforward: a file to send instead")
	legacy      = flag.Bool("legacy", false, "portforward: no requestid header (one request at a time)")
	tag         = flag.Bool("tag", false, "portforward: append \"/N\" (the request id) to what is sent")
	ping        = flag.Bool("ping", false, "exec: PING the server once the streams are up")
)

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}

func say(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "spdyclient: "+format+"\n", args...)
}

// A connection whose first bytes come from the reader that parsed the 101.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufConn) Read(p []byte) (int, error) { return b.r.Read(p) }

func dial() (*spdystream.Connection, string) {
	u, err := url.Parse(*rawURL)
	if err != nil {
		say("bad url: %v", err)
		os.Exit(2)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		say("dial: %v", err)
		os.Exit(2)
	}
	req := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n",
		u.RequestURI(), u.Host)
	for _, p := range protos {
		req += "X-Stream-Protocol-Version: " + p + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		say("write: %v", err)
		os.Exit(2)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		say("read response: %v", err)
		os.Exit(2)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		say("HTTP %d %s", resp.StatusCode, strconv.Quote(strings.TrimSpace(string(body))))
		os.Exit(90)
	}
	chosen := resp.Header.Get("X-Stream-Protocol-Version")
	say("PROTOCOL %s", chosen)
	c, err := spdystream.NewConnection(&bufConn{conn, br}, false)
	if err != nil {
		say("spdy: %v", err)
		os.Exit(2)
	}
	go c.Serve(spdystream.NoOpStreamHandler)
	return c, chosen
}

// As client-go's CreateStream: open it, wait for the SYN_REPLY.
func open(c *spdystream.Connection, h http.Header) (*spdystream.Stream, error) {
	s, err := c.CreateStream(h, nil, false)
	if err == nil {
		err = s.WaitTimeout(30 * time.Second)
	}
	return s, err
}

// The exit code a Status (v4+) or an error text (v1-v3) stands for.
func exitCode(proto string, msg []byte) int {
	if !strings.HasPrefix(proto, "v4.") && !strings.HasPrefix(proto, "v5.") {
		if len(msg) == 0 {
			return 0
		}
		return 92
	}
	var st struct {
		Status  string
		Reason  string
		Details struct {
			Causes []struct{ Reason, Message string }
		}
	}
	if json.Unmarshal(msg, &st) != nil {
		return 92
	}
	if st.Status == "Success" {
		return 0
	}
	if st.Reason == "NonZeroExitCode" {
		for _, c := range st.Details.Causes {
			if n, err := strconv.Atoi(c.Message); err == nil && c.Reason == "ExitCode" {
				return n
			}
		}
	}
	return 92
}

func runExec(c *spdystream.Connection, proto string) int {
	streams := map[string]*spdystream.Stream{}
	failed := false
	for _, t := range strings.Split(*streamsFlag, ",") {
		h := http.Header{}
		h.Set("streamType", t)
		s, err := open(c, h)
		if err != nil {
			say("STREAM %s %v", t, err)
			failed = true
			break
		}
		streams[t] = s
	}
	errc := make(chan []byte, 1)
	if s := streams["error"]; s != nil {
		go func() { msg, _ := io.ReadAll(s); errc <- msg }()
	} else {
		errc <- nil
	}
	if !failed {
		say("STARTED")
		if *ping {
			if _, err := c.Ping(); err != nil {
				say("PING %v", err)
			} else {
				say("PING ok")
			}
		}
		if s := streams["stdin"]; s != nil {
			go func() { io.Copy(s, os.Stdin); s.Close() }()
		}
		if s := streams["resize"]; s != nil && *resize != "" {
			go func() { time.Sleep(*resizeDelay); s.Write([]byte(*resize)) }()
		}
		var wg sync.WaitGroup
		for t, w := range map[string]io.Writer{"stdout": os.Stdout, "stderr": os.Stderr} {
			if s := streams[t]; s != nil {
				wg.Add(1)
				go func(s *spdystream.Stream, w io.Writer) { io.Copy(w, s); wg.Done() }(s, w)
			}
		}
		wg.Wait()
	}
	var msg []byte
	select {
	case msg = <-errc:
	case <-time.After(20 * time.Second):
		say("no end on the error stream")
	}
	c.Close()
	if *statusFile != "" {
		os.WriteFile(*statusFile, msg, 0o644)
	}
	say("STATUS %s", strconv.Quote(string(msg)))
	if failed {
		return 91
	}
	return exitCode(proto, msg)
}

type pfResult struct {
	Req    int    `json:"req"`
	Len    int    `json:"len"`
	SHA256 string `json:"sha256"`
	Data   string `json:"data,omitempty"`
	Error  string `json:"error"`
	Failed string `json:"failed,omitempty"`
}

func forward(c *spdystream.Connection, req int, payload []byte) pfResult {
	res := pfResult{Req: req}
	h := http.Header{}
	h.Set("streamType", "error")
	h.Set("port", *port)
	if !*legacy {
		h.Set("requestID", strconv.Itoa(req))
	}
	es, err := open(c, h)
	if err != nil {
		res.Failed = "error stream: " + err.Error()
		return res
	}
	es.Close() // as client-go: nothing is written to it
	errc := make(chan []byte, 1)
	go func() { msg, _ := io.ReadAll(es); errc <- msg }()
	h.Set("streamType", "data")
	ds, err := open(c, h)
	if err != nil {
		res.Failed = "data stream: " + err.Error()
		return res
	}
	go func() {
		// In frames of 32 KiB, as client-go's io.Copy writes them.
		for p := payload; len(p) > 0; p = p[min(len(p), 32<<10):] {
			if _, err := ds.Write(p[:min(len(p), 32<<10)]); err != nil {
				break
			}
		}
		ds.Close() // a half-close
	}()
	data, _ := io.ReadAll(ds)
	sum := sha256.Sum256(data)
	res.Len, res.SHA256 = len(data), hex.EncodeToString(sum[:])
	if len(data) <= 4096 {
		res.Data = string(data)
	}
	select {
	case msg := <-errc:
		res.Error = string(msg)
	case <-time.After(20 * time.Second):
		res.Failed = "no end on the error stream"
	}
	return res
}

func runPortForward(c *spdystream.Connection) int {
	payload := []byte(*send)
	if *sendFile != "" {
		var err error
		if payload, err = os.ReadFile(*sendFile); err != nil {
			say("%v", err)
			return 2
		}
	}
	results := make([]pfResult, *requests)
	var wg sync.WaitGroup
	for i := 0; i < *requests; i++ {
		wg.Add(1)
		p := payload
		if *tag {
			p = append(append([]byte{}, payload...), fmt.Sprintf("/%d", i)...)
		}
		run := func(i int, p []byte) { results[i] = forward(c, i, p); wg.Done() }
		if *legacy {
			run(i, p) // stream ids must pair up: one at a time
		} else {
			go run(i, p)
		}
	}
	wg.Wait()
	enc := json.NewEncoder(os.Stdout)
	for _, r := range results {
		enc.Encode(r)
	}
	c.Close()
	return 0
}

func main() {
	flag.Var(&protos, "proto", "an X-Stream-Protocol-Version header (repeatable; none: no header)")
	flag.Parse()
	if flag.NArg() != 1 || *rawURL == "" {
		say("usage: spdyclient -url URL [flags] exec|portforward")
		os.Exit(2)
	}
	c, chosen := dial()
	if flag.Arg(0) == "exec" {
		os.Exit(runExec(c, chosen)) // the version chosen says how the status reads
	}
	os.Exit(runPortForward(c))
}
