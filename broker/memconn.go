package broker

import (
	"context"
	"net"
	"sync"
)

// memListener is a net.Listener whose connections are in-process pipes
// (net.Pipe): a client dials it with dial instead of the network. It serves
// an embedded broker whose only clients live in the same process, as in a
// replay: the Kafka protocol is the same, but every request and response is
// copied once, from writer to reader, with no system calls, instead of
// going through the kernel's loopback TCP.
type memListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// memAddr is the address the broker advertises. Nothing listens there: a
// client that dials it without the broker's dialer fails at once (port 1 is
// privileged and unused) instead of reaching some other service.
var memAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}

func newMemListener() *memListener {
	return &memListener{addr: memAddr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *memListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and dial; it is idempotent. Connections already made
// are closed by their ends.
func (l *memListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *memListener) Addr() net.Addr { return l.addr }

// dial connects to the listener, whatever the address asked for (the broker
// advertises only memAddr).
func (l *memListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, net.ErrClosed
}
