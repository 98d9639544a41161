// A minimal authoritative server on Go's miekg/dns, the library under CoreDNS, istiocoredns,
// Lighthouse and k8gb: the baseline a user would pick instead of gsdns (bench/authoritative.sh).
// It answers from a map built from a zone file: the records of the asked name and type, else
// NODATA or NXDOMAIN with the SOA. Run it with GOMAXPROCS=1 to measure one core.
// Build (GOPATH mode, Debian's golang-github-miekg-dns-dev):
//   GOPATH=/usr/share/gocode GO111MODULE=off go build -o miekg-server bench/peers/miekg-server.go
package main

import (
	"flag"
	"log"
	"os"
	"strings"

	"github.com/miekg/dns"
)

type key struct {
	name  string
	qtype uint16
}

func main() {
	zoneFile := flag.String("zone", "", "zone file")
	origin := flag.String("origin", "global.", "zone origin")
	addr := flag.String("addr", "127.0.0.1:15390", "listen address")
	flag.Parse()
	f, err := os.Open(*zoneFile)
	if err != nil {
		log.Fatal(err)
	}
	records := map[key][]dns.RR{}
	names := map[string]bool{}
	var soa dns.RR
	zp := dns.NewZoneParser(f, *origin, *zoneFile)
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		name := strings.ToLower(h.Name)
		records[key{name, h.Rrtype}] = append(records[key{name, h.Rrtype}], rr)
		names[name] = true
		if h.Rrtype == dns.TypeSOA {
			soa = rr
		}
	}
	if err := zp.Err(); err != nil {
		log.Fatal(err)
	}
	dns.HandleFunc(".", func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Authoritative = true
		if len(req.Question) == 1 {
			q := req.Question[0]
			name := strings.ToLower(q.Name)
			if rrs, ok := records[key{name, q.Qtype}]; ok {
				m.Answer = rrs
			} else {
				if !names[name] {
					m.Rcode = dns.RcodeNameError
				}
				m.Ns = []dns.RR{soa}
			}
		}
		if opt := req.IsEdns0(); opt != nil {
			m.SetEdns0(1232, opt.Do())
		}
		w.WriteMsg(m)
	})
	server := &dns.Server{Addr: *addr, Net: "udp"}
	log.Printf("miekg/dns serving %d names on %s", len(names), *addr)
	log.Fatal(server.ListenAndServe())
}
