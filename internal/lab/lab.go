// Package lab makes simulated AWS real on one machine: each simulated
// instance is a network namespace holding its ENI's IP, with its own mount
// namespace and root (an overlay of the host's), a loop device as its EBS
// volume, an IMDS that answers for it, and the AWS endpoints pointed at
// the simulator. Launching an instance runs the module's real user data in
// it; terminating one kills its processes and releases its volume and IP
// the way EC2 does. Every address lives inside namespaces the lab creates;
// the host namespace gets nothing but a listener on 127.0.0.1.
package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/stateful-aws/stateful/internal/clock"
	"github.com/stateful-aws/stateful/internal/release"
	"github.com/stateful-aws/stateful/internal/rollout"
	"github.com/stateful-aws/stateful/internal/sim"
	"github.com/stateful-aws/stateful/internal/sim/simhttp"
)

// Addresses inside the lab's network. Nodes live in 10.0.0.0/20,
// 10.0.16.0/20 and 10.0.32.0/20 (sim.Provision), all on one bridge.
const (
	controlIP  = "10.0.255.254" // the simulator's AWS endpoint, for instances
	imdsIP     = "169.254.169.254"
	labNetmask = 16
	apiPort    = "8080"
	bridgeMAC  = "02:00:0a:00:ff:fe" // locally administered, fixed: see network
)

// Config sets up a lab.
type Config struct {
	// Source is the Terraform configuration the lab runs: its module
	// block, evaluated with the module's own HCL (Evaluate).
	Source Source
	// WorkDir holds the lab's files: volumes, instance roots, state.
	WorkDir string
	// Release is a directory in the release layout (v<version>/
	// stateful-linux-<arch>, as make release writes dist/), served to the
	// instances as agent.base_url: they fetch the agent the module pins
	// (release.tf) and check it as a user's nodes do. CheckRelease says
	// whether it holds the pinned binary for this machine.
	Release string
	Logger  *slog.Logger
	Clock   clock.Clock
	Timings sim.Timings
	// VolumeSize of each simulated EBS volume in bytes (default 512 MiB).
	VolumeSize int64
	// Probe is the application's client the demo runs (LoadProbe).
	Probe Probe
	// Roll is the demo's roll: the stateful roll command's code (cli
	// gives it), so the lab runs no operator of its own.
	Roll RollFunc
	// KeepLogs makes Down keep the instances' logs in WorkDir/<lab>-logs.
	KeepLogs bool
}

// RollFunc rolls the cluster named clusterName at a lab's endpoint (its
// requests signed with the lab's secret) as `stateful roll` does with
// opts, handing every event of the roll (typed: node, instance, took) to
// events.
type RollFunc func(ctx context.Context, endpoint, secret, clusterName string, opts rollout.Options, events func(rollout.Event)) error

// Lab is a running lab.
type Lab struct {
	cfg    Config
	log    *slog.Logger
	id     string // short, unique: names namespaces and links
	Engine *sim.Engine

	// Endpoint is the simulator's AWS endpoint on the host's loopback, for
	// operator commands.
	Endpoint string
	secret   string      // the host endpoint's SigV4 secret key (secret.go)
	agents   *agentWatch // the agents' failures as they happen (agentwatch.go), during a demo
	spec     *Cluster    // what the configuration says
	cluster  clusterSpec
	pin      release.Pin // the release the module pins: the nodes' agent

	cancel  context.CancelFunc
	servers []*http.Server
	done    sync.WaitGroup

	ready chan struct{} // closed once provisioning is done: boots wait for it
	// changes carries the simulator's changes to the goroutine that makes
	// them real, in order, so the simulator never waits on processes,
	// mounts or namespaces.
	changes chan sim.Change
	stopped chan struct{} // closed by Down

	mu        sync.Mutex
	instances map[string]*instance
	volumes   map[string]*volume // by volume ID
	loops     sync.Map           // volume ID -> loop device path, read without mu
	links     int                // veth counter
	closed    bool
}

// Preflight says, in one sentence, what is missing to run a lab.
func Preflight() error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("the lab needs Linux (network namespaces, loop devices, mounts), not %s", runtime.GOOS)
	}
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network namespaces, loop devices, mounts): run it with sudo")
	}
	need := map[string]string{
		"ip": "iproute2", "unshare": "util-linux", "losetup": "util-linux", "mount": "mount", "chroot": "coreutils",
		"blkid": "util-linux", "curl": "curl", "bash": "bash", "sha256sum": "coreutils",
		// The user data limits IMDS to root with nftables, in the instance's
		// own network namespace.
		"nft": "nftables",
	}
	var missing []string
	pkgs := map[string]bool{}
	for tool, pkg := range need {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
			pkgs[pkg] = true
		}
	}
	if len(missing) > 0 {
		var list []string
		for p := range pkgs {
			list = append(list, p)
		}
		return fmt.Errorf("the lab needs %s: apt-get install -y %s", strings.Join(missing, ", "), strings.Join(list, " "))
	}
	return nil
}

// Up starts a lab: the network, the simulator and its endpoints, and the
// cluster, whose instances start booting at once.
func Up(ctx context.Context, cfg Config) (*Lab, error) {
	if err := Preflight(); err != nil {
		return nil, err
	}
	spec, err := Evaluate(cfg.Source, BaseURL())
	if err != nil {
		return nil, err
	}
	for _, n := range spec.Nodes {
		// The agent formats a blank volume with the module's file system.
		if _, err := exec.LookPath("mkfs." + n.FileSystem); err != nil {
			return nil, fmt.Errorf("node %s's data volume is %s, and this machine has no mkfs.%s: install its tools (e2fsprogs, xfsprogs)", n.ID, n.FileSystem, n.FileSystem)
		}
	}
	if len(spec.Nodes) > 9 {
		return nil, fmt.Errorf("the configuration in %s has %d nodes: the lab runs at most 9 on one machine", cfg.Source.Dir, len(spec.Nodes))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Timings == (sim.Timings{}) {
		cfg.Timings = Timings()
	}
	if cfg.VolumeSize == 0 {
		cfg.VolumeSize = 512 << 20
	}
	if cfg.Roll == nil {
		return nil, errors.New("the lab needs Config.Roll, the stateful roll command's code, to roll its cluster")
	}
	if cfg.Release == "" {
		return nil, errors.New("the lab needs a release directory (Config.Release) to serve the agent from")
	}
	pin, err := release.ReadPin(spec.ModuleDir)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 2)
	_, _ = rand.Read(b)
	l := &Lab{cfg: cfg, pin: pin, spec: spec, id: "stl" + hex.EncodeToString(b), instances: map[string]*instance{}, volumes: map[string]*volume{}, ready: make(chan struct{}),
		changes: make(chan sim.Change, 1024), stopped: make(chan struct{})}
	l.log = cfg.Logger.With("component", "lab", "lab", l.id)
	if l.secret, err = newSecret(); err != nil {
		return nil, err
	}
	// Root's alone: the state file holds the secret, the volumes the data.
	if err := privateDir(cfg.WorkDir); err != nil {
		return nil, err
	}
	if err := privateDir(l.dir()); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			_ = l.Down()
		}
	}()
	if err := l.network(ctx); err != nil {
		return nil, err
	}
	e, err := sim.New(sim.Config{Clock: cfg.Clock, Region: "us-east-1", Seed: cfg.Clock.Now().UnixNano(), Timings: cfg.Timings,
		Boot: l.boot, Observe: l.observe, VolumeMounted: l.volumeMounted, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	l.Engine = e
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	l.done.Add(2)
	go func() { defer l.done.Done(); _ = e.Run(runCtx) }()
	go func() { defer l.done.Done(); l.apply(runCtx) }()
	if err := l.serve(); err != nil {
		return nil, err
	}
	if err := l.provision(ctx); err != nil {
		return nil, err
	}
	close(l.ready)
	ok = true
	return l, nil
}

// Timings are the lab's AWS delays: the order of events AWS has, fast
// enough for a demo on one machine.
func Timings() sim.Timings {
	t := sim.FastTimings()
	t.ShutdownDuration = 2 * time.Second
	t.ENIReleaseDelay = 500 * time.Millisecond
	t.VolumeReleaseDelay = time.Second
	t.HealthCheckInterval = 2 * time.Second
	// Launches fail while the old instance holds the ENI (during its drain
	// and shutdown); a short backoff cap keeps the replacement from waiting
	// long after the ENI is free.
	t.LaunchRetryMax = 2 * time.Second
	return t
}

func (l *Lab) dir(parts ...string) string {
	return filepath.Join(append([]string{l.cfg.WorkDir, l.id}, parts...)...)
}

// LogDir is where Down keeps the logs when KeepLogs is set.
func (l *Lab) LogDir() string { return filepath.Join(l.cfg.WorkDir, l.id+"-logs") }

func (l *Lab) cpNetns() string { return l.id + "-cp" }

// network creates the control-plane namespace with the bridge every
// instance plugs into, holding the simulator's address and IMDS's.
func (l *Lab) network(ctx context.Context) error {
	ns := l.cpNetns()
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "link", "add", "br0", "type", "bridge"},
		// A bridge takes the lowest MAC of its ports unless given one: as
		// instances come and go its MAC would change under the neighbour
		// caches of the instances still running, whose packets to the
		// simulator and IMDS would go nowhere until their entry expired
		// (15 to 45 s, seen as drains noticing their termination late).
		{"ip", "-n", ns, "link", "set", "br0", "address", bridgeMAC},
		{"ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/%d", controlIP, labNetmask), "dev", "br0"},
		{"ip", "-n", ns, "addr", "add", imdsIP + "/32", "dev", "br0"},
		{"ip", "-n", ns, "link", "set", "br0", "up"},
	}
	for _, r := range privateRanges {
		steps = append(steps, []string{"ip", "-n", ns, "route", "add", r, "dev", "br0"})
	}
	for _, s := range steps {
		if err := run(ctx, s[0], s[1:]...); err != nil {
			return fmt.Errorf("setting up the lab network: %w", err)
		}
	}
	return nil
}

// serve starts the simulator's HTTP face: on 127.0.0.1 in the host
// namespace for operators, and on the control address and IMDS's address
// inside the lab, with the release directory under /lab/release/ (the
// nodes' agent.base_url).
func (l *Lab) serve() error {
	mux := http.NewServeMux()
	mux.Handle(releasePath, http.StripPrefix(releasePath, http.FileServer(http.Dir(l.cfg.Release))))
	mux.Handle("/", simhttp.New(l.Engine, l.cfg.Logger))
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	l.Endpoint = "http://" + host.Addr().String()
	listeners := []net.Listener{host}
	for _, addr := range []string{net.JoinHostPort(controlIP, apiPort), net.JoinHostPort(imdsIP, "80")} {
		ln, err := listenIn(netnsPath(l.cpNetns()), addr)
		if err != nil {
			return fmt.Errorf("listening on %s in the lab network: %w", addr, err)
		}
		listeners = append(listeners, ln)
	}
	for i, ln := range listeners {
		var h http.Handler = mux
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		if ln == host { // reachable by every local user: signed requests only, bounded
			srv.Handler = requireSignature(l.secret, l.cfg.Clock.Now, mux)
			srv.ReadTimeout, srv.IdleTimeout, srv.MaxHeaderBytes = 30*time.Second, time.Minute, 64<<10
			ln = limitListener(ln, maxHostConns)
			listeners[i] = ln
		}
		l.servers = append(l.servers, srv)
		l.done.Add(1)
		go func(ln net.Listener) { defer l.done.Done(); _ = srv.Serve(ln) }(ln)
	}
	return nil
}

// releasePath is where the lab serves its release directory.
const releasePath = "/lab/release/"

// BaseURL is the lab's agent.base_url, as the instances reach it.
func BaseURL() string {
	return "http://" + controlIP + ":" + apiPort + strings.TrimSuffix(releasePath, "/")
}

// CheckRelease says, in one sentence, why dir cannot serve this machine's
// nodes the agent the module in moduleDir pins: the binary is missing, or
// it is not the pinned one (the source changed since make release).
func CheckRelease(moduleDir, dir string) error {
	pin, err := release.ReadPin(moduleDir)
	if err != nil {
		return err
	}
	t := release.Target{OS: "linux", Arch: runtime.GOARCH}
	path := filepath.Join(dir, filepath.FromSlash(release.Path(pin.Version, t)))
	sum, err := release.FileSHA256(path)
	if err != nil {
		return fmt.Errorf("the lab's nodes download the release the module pins, but %s is not there (%v): run make demo, which builds it, or make release VERSION=%s", path, err, pin.Version)
	}
	if sum != pin.Sum(t) {
		return fmt.Errorf("%s has sha256 %s, not %s, the sha256 release.tf pins for %s %s: the source changed since that release; run make release VERSION=%s", path, sum, pin.Sum(t), t, pin.Version, pin.Version)
	}
	return nil
}

// Down stops everything the lab started and removes everything it made:
// processes, mounts, namespaces, loop devices, files.
func (l *Lab) Down() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stopped)
	insts := make([]*instance, 0, len(l.instances))
	for _, i := range l.instances {
		insts = append(insts, i)
	}
	vols := make([]*volume, 0, len(l.volumes))
	for _, v := range l.volumes {
		vols = append(vols, v)
	}
	l.mu.Unlock()
	if l.cancel != nil {
		l.cancel()
	}
	for _, s := range l.servers {
		_ = s.Close()
	}
	var errs []error
	for _, i := range insts {
		if err := l.destroy(i); err != nil {
			errs = append(errs, err)
		}
	}
	for _, v := range vols {
		if err := v.release(); err != nil {
			errs = append(errs, err)
		}
	}
	ctx := context.Background()
	if _, err := os.Stat(netnsPath(l.cpNetns())); err == nil {
		l.killNetns(netnsPath(l.cpNetns()))
		if err := run(ctx, "ip", "netns", "del", l.cpNetns()); err != nil {
			errs = append(errs, err)
		}
	}
	l.done.Wait()
	if l.cfg.KeepLogs {
		if err := os.Rename(l.dir("logs"), l.LogDir()); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(l.dir()); err != nil {
		errs = append(errs, err)
	}
	_ = os.Remove(l.cfg.WorkDir) // only when empty: other labs' files stay
	return errors.Join(errs...)
}

// KeepLogs makes Down keep the instances' logs (after a failure).
func (l *Lab) KeepLogs() {
	l.mu.Lock()
	l.cfg.KeepLogs = true
	l.mu.Unlock()
}
