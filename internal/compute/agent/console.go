package agent

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nimbus-cloud/nimbus/internal/compute/hypervisor"
	"github.com/nimbus-cloud/nimbus/internal/compute/rpc"
)

// getConsole answers where a console proxy reaches the guest's console.
//
// VNC is the driver's own server (QEMU's, listening on the console
// address the driver was given). A serial port is a unix socket only
// the host can dial, so the agent opens a TCP listener on
// Options.ConsoleAddress for each request: it takes one connection
// within rpc.ConsoleAcceptTimeout, only then dials the guest's port
// (QEMU serves one client at a time; an unused endpoint holds nothing),
// and relays bytes both ways until either side closes or the agent stops.
func (a *Agent) getConsole(ctx context.Context, req *rpc.Request) rpc.Reply {
	inst := a.guest(req.Instance)
	state := a.state(ctx, inst)
	if state == hypervisor.NoState {
		if _, err := a.o.Driver.Info(ctx, inst); err != nil {
			return fail(hypervisor.NoState, a.opError(ctx, req, err))
		}
	}
	if state != hypervisor.Running && state != hypervisor.Paused {
		return fail(state, rpc.Errorf(rpc.CodeRefused, false,
			"Instance %s is not ready: its console is available only while it runs.", inst.UUID))
	}
	switch req.Console.Type {
	case rpc.ConsoleNoVNC:
		v, ok := a.o.Driver.(hypervisor.VNCConsole)
		if !ok {
			break
		}
		addr, err := v.VNCAddr(ctx, inst)
		if err != nil {
			return fail(a.state(ctx, inst), a.opError(ctx, req, err))
		}
		ep, err := a.endpoint(rpc.EndpointVNC, addr)
		if err != nil {
			return fail(state, rpc.Errorf(rpc.CodeFailed, false, "VNC of instance %s: %v", inst.UUID, err))
		}
		return rpc.Reply{OK: true, PowerState: state, Console: ep}
	case rpc.ConsoleSerial:
		sc, ok := a.o.Driver.(hypervisor.SerialConsole)
		if !ok {
			break
		}
		ep, err := a.serialEndpoint(inst, sc)
		if err != nil {
			return fail(state, rpc.Errorf(rpc.CodeFailed, false, "serial console of instance %s: %v", inst.UUID, err))
		}
		return rpc.Reply{OK: true, PowerState: state, Console: ep}
	}
	return fail(state, rpc.Errorf(rpc.CodeUnsupported, false,
		"Console type %s is not available on the %s hypervisor.", req.Console.Type, a.hypervisorType(ctx)))
}

// endpoint turns a listening address into what the proxy dials: an
// unspecified address (0.0.0.0, ::) is this host's HostIP.
func (a *Agent) endpoint(kind, addr string) (*rpc.ConsoleEndpoint, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return nil, errors.New("bad port in " + addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = a.o.HostIP
	}
	return &rpc.ConsoleEndpoint{Kind: kind, Host: host, Port: port}, nil
}

// serialEndpoint opens the one-connection listener of a serial console.
func (a *Agent) serialEndpoint(inst hypervisor.Instance, sc hypervisor.SerialConsole) (*rpc.ConsoleEndpoint, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(a.o.ConsoleAddress, "0"))
	if err != nil {
		return nil, err
	}
	ep, err := a.endpoint(rpc.EndpointSerial, l.Addr().String())
	if err != nil {
		l.Close()
		return nil, err
	}
	a.consoles.Go(func() { a.relaySerial(l, inst, sc) })
	return ep, nil
}

// relaySerial waits for the one connection of l and relays it to the
// guest's serial port.
func (a *Agent) relaySerial(l net.Listener, inst hypervisor.Instance, sc hypervisor.SerialConsole) {
	log := a.log.With("uuid", inst.UUID, "console", "serial", "addr", l.Addr().String())
	ctx, cancel := context.WithTimeout(a.life, rpc.ConsoleAcceptTimeout)
	stop := context.AfterFunc(ctx, func() { l.Close() })
	c, err := l.Accept()
	stop()
	l.Close()
	cancel()
	if err != nil {
		log.Info("serial console endpoint closed unused")
		return
	}
	defer c.Close()
	dctx, dcancel := context.WithTimeout(a.life, 10*time.Second)
	g, err := sc.DialSerial(dctx, inst)
	dcancel()
	if err != nil {
		log.Warn("serial console", "err", err)
		return
	}
	defer g.Close()
	log.Info("serial console connected", "client", c.RemoteAddr().String())
	// Either side closing, or the agent stopping, ends both.
	end := context.AfterFunc(a.life, func() { c.Close(); g.Close() })
	defer end()
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(g, c)
		g.Close()
		c.Close()
	})
	io.Copy(c, g)
	c.Close()
	g.Close()
	wg.Wait()
	log.Info("serial console disconnected")
}
