// Package workload is the common model every configuration source is
// translated into: one Workload per container as it is configured (a compose
// service, a Kubernetes container, a docker run line, a Dockerfile LABEL RUN,
// an OCI config.json, a docker inspect record, a Quadlet unit), with every
// capability-relevant field exactly as written and where it was written.
//
// The model records; it does not interpret. Which capabilities a workload
// ends up with is the merge package's job, under the rules of the runtime
// named in Runtime.
package workload

import "fmt"

// Position is a place in a source file. Line and Col start at 1; 0 means
// unknown.
type Position struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"column"`
}

// String formats p as file:line:col, leaving out what is unknown.
func (p Position) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Kind says what sort of definition a workload came from.
type Kind string

// The kinds of workload.
const (
	ComposeService      Kind = "compose-service"
	KubeContainer       Kind = "kubernetes-container"
	KubeInitContainer   Kind = "kubernetes-init-container"
	KubeEphemeral       Kind = "kubernetes-ephemeral-container"
	RunLine             Kind = "run-line"         // docker/podman run in a script, unit, Makefile, Markdown
	DockerfileLabel     Kind = "dockerfile-label" // LABEL RUN
	OCISpec             Kind = "oci-spec"         // runtime config.json
	InspectRecord       Kind = "docker-inspect"   // docker inspect output
	QuadletUnit         Kind = "quadlet"          // Podman .container unit
	DockerfileImageCaps Kind = "dockerfile-image" // an image's own defaults (USER, io.containers.capabilities)
)

// Runtime names the merge semantics that apply to a workload.
type Runtime string

// The runtimes whose rules capdrop models.
const (
	Docker     Runtime = "docker"
	Containerd Runtime = "containerd" // containerd's CRI plugin: most Kubernetes clusters
	CRIO       Runtime = "crio"
	Podman     Runtime = "podman"
	OCI        Runtime = "oci" // sets are written out explicitly; runc applies them as they are
	// Nerdctl is nerdctl run/create (containerd without CRI). Its rules
	// (nerdctl pkg/cmd/container, generateCapOpts) are its own: defaults are
	// containerd's (Docker's 14); drop contains "ALL" (exact case) → start
	// empty; add contains "ALL" → all current caps; otherwise adds, then
	// drops, so drop wins; add ALL + drop ALL = all (drops are skipped when
	// drop holds ALL). Names are upper-cased and get CAP_ when missing.
	Nerdctl Runtime = "nerdctl"
)

// Runtimes lists every runtime, for flag validation and help.
var Runtimes = []Runtime{Docker, Containerd, CRIO, Podman, OCI, Nerdctl}

// Word is a value exactly as the source wrote it, with its position.
type Word struct {
	Text string   `json:"text"`
	Pos  Position `json:"position"`
}

// Workload is one container as a source configures it.
type Workload struct {
	// Pos is where the container is defined: the compose service key, the
	// Kubernetes container's list item, the first word of the run line.
	Pos  Position `json:"position"`
	Kind Kind     `json:"kind"`
	// Name identifies the workload to people: the compose service, the
	// Kubernetes "Deployment/web/app" path, the run line's --name or image.
	Name    string  `json:"name"`
	Image   string  `json:"image,omitempty"`
	Runtime Runtime `json:"runtime"`

	// Privileged is true when the container is privileged; PrivilegedPos is
	// where that was said (nil when it was not).
	Privileged    bool      `json:"privileged"`
	PrivilegedPos *Position `json:"privileged_position,omitempty"`

	// CapAdd and CapDrop are the lists exactly as written, in order, with
	// duplicates and odd spellings kept ("all", "CAP_SYS_ADMIN", "net_raw").
	CapAdd  []Word `json:"cap_add"`
	CapDrop []Word `json:"cap_drop"`
	// CapsPos is where the capability settings live or would be inserted
	// (the compose service, the securityContext, the run line), for fixes.
	CapsPos *Position `json:"caps_position,omitempty"`

	// User is the user as written ("1000", "nobody", "1000:1000", "root");
	// empty when the configuration leaves it to the image.
	User    string    `json:"user,omitempty"`
	UserPos *Position `json:"user_position,omitempty"`
	// ImageUser is the image's USER, when the source knows it (a Dockerfile,
	// docker inspect of an image); used when User is empty.
	ImageUser string `json:"image_user,omitempty"`
	// ImageAccounts are the user and group names of the image's own
	// /etc/passwd and /etc/group, when a verb read them from the image
	// (runlabel does, through the engine). Names in User and ImageUser
	// are resolved against them, and a name they lack is judged as root.
	// nil when nobody read them: a name other than root is then taken as
	// a non-root user.
	ImageAccounts *Accounts `json:"image_accounts,omitempty"`

	// Kubernetes securityContext fields after applying pod-level defaults
	// (container level wins). nil means not set anywhere.
	RunAsUser                *int64 `json:"run_as_user,omitempty"`
	RunAsNonRoot             *bool  `json:"run_as_non_root,omitempty"`
	AllowPrivilegeEscalation *bool  `json:"allow_privilege_escalation,omitempty"`

	// NoNewPrivs is the docker/podman/OCI no_new_privs setting
	// (--security-opt no-new-privileges, noNewPrivileges); nil when unset.
	NoNewPrivs    *bool     `json:"no_new_privs,omitempty"`
	NoNewPrivsPos *Position `json:"no_new_privs_position,omitempty"`

	// Explicit holds sets the source states outright (an OCI config.json's
	// process.capabilities), exactly as written. nil for every other source.
	Explicit *ExplicitSets `json:"explicit,omitempty"`

	// ImageCaps is the image label io.containers.capabilities, which Podman
	// uses in place of its default set.
	ImageCaps []Word `json:"image_caps,omitempty"`

	// Rootless is true when the engine runs as an unprivileged user:
	// rootless Podman, known from a Quadlet user unit's place
	// (~/.config/containers/systemd, /etc/containers/systemd/users) or
	// from --userns=keep-id or nomap, which Podman accepts only rootless.
	// The container's capabilities are then held in the user's user
	// namespace, not over the host.
	Rootless bool `json:"rootless,omitempty"`

	// Host is what the container shares with its host or opens onto it
	// besides capabilities: host namespaces, mounts, devices, confinement
	// switched off. Every source fills what its format can express.
	Host Host `json:"host"`

	// Run is how the container runs besides its capabilities and host
	// access: command, environment, limits, …, what a verb needs to start
	// it as configured (verify, profile --docker). Sources fill what their
	// format expresses.
	Run RunConfig `json:"run"`

	// Uncertain says why the configuration as read may not be what runs:
	// something capdrop cannot see decides part of it (an expanded shell
	// array, "$@", a variable without a value or default, an unknown
	// option). Empty when the source is fully known. Rules state no
	// confident set for an uncertain workload.
	Uncertain []Uncertainty `json:"uncertain,omitempty"`

	// Attrs holds source-specific context worth showing or needed by fixes:
	// "namespace", "object" (Deployment/web), "service", "command" (the run
	// line as written), "label" (LABEL RUN text), "pod_privileged", ….
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Accounts are user and group names with their ids as an image's
// /etc/passwd and /etc/group define them: the first entry of a name wins,
// as in the runtime's own lookup.
type Accounts struct {
	Users  map[string]int64 `json:"users"`
	Groups map[string]int64 `json:"groups"`
	// Known is false when the image could not be read (it is not on the
	// engine): its USER is unknown too, and every name is judged as root.
	Known bool `json:"known"`
	// Source says where the names were read ("/etc/passwd and /etc/group
	// of image sha256:…"), or why they could not be.
	Source string `json:"source"`
}

// Host holds the settings through which a container reaches its host.
// Values are as written, with their positions; a source translates its own
// spelling to the common one noted on each field (hostPID: true → PID
// "host", network_mode: host → Network "host").
type Host struct {
	// Namespaces the container joins instead of getting its own.
	Namespaces Namespaces `json:"namespaces"`
	// Mounts are every mount the configuration asks for, in order: bind
	// mounts of host paths, named volumes, tmpfs, Kubernetes volumes.
	Mounts []Mount `json:"mounts,omitempty"`
	// Devices are host devices made available, as written ("/dev/fuse",
	// "/dev/sda:/dev/xvda:rwm").
	Devices []Word `json:"devices,omitempty"`
	// SecurityOpt are the security options as written, one per word, in
	// Docker's spelling: "seccomp=unconfined", "apparmor=unconfined",
	// "label=disable", "systempaths=unconfined". Kubernetes
	// seccompProfile/appArmorProfile type Unconfined and procMount
	// Unmasked are translated to those. no-new-privileges is kept in
	// Workload.NoNewPrivs, not here.
	SecurityOpt []Word `json:"security_opt,omitempty"`
}

// Namespaces holds the namespace settings as written; nil means the
// runtime's default (a private namespace). Text is the value in Docker's
// spelling: "host", "container:NAME", "private", "keep-id", "auto", ….
type Namespaces struct {
	PID     *Word `json:"pid,omitempty"`
	Network *Word `json:"network,omitempty"`
	IPC     *Word `json:"ipc,omitempty"`
	UTS     *Word `json:"uts,omitempty"`
	User    *Word `json:"user,omitempty"`
	Cgroup  *Word `json:"cgroup,omitempty"`
}

// Mount is one mount of a container.
type Mount struct {
	// Type is "bind" (a host path: docker -v /a:/b, compose bind,
	// Kubernetes hostPath), "volume" (a named or anonymous volume, a
	// Kubernetes volume that is not a host path), "tmpfs" or "other".
	Type string `json:"type"`
	// Source is the host path of a bind mount, the volume's name, or empty.
	Source string `json:"source,omitempty"`
	// Target is the path inside the container.
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Options are the remaining options as written (propagation,
	// SELinux relabelling, Kubernetes hostPath type, …).
	Options []string `json:"options,omitempty"`
	Pos     Position `json:"position"`
}

// HostPath reports whether m makes a host path visible in the container.
func (m Mount) HostPath() bool { return m.Type == "bind" }

// RunConfig is a container's run configuration besides capabilities and
// host access (Host), in the Docker Engine API's terms: each source
// translates its own spelling (compose keys, docker run flags, Quadlet
// keys, inspect fields) into these, after interpolation, extends and
// merges. Zero values mean unset: the image's or the engine's default.
type RunConfig struct {
	// Entrypoint and Command replace the image's when set; an empty list
	// that is set (entrypoint: [], --entrypoint "") resets it.
	Entrypoint *[]string `json:"entrypoint,omitempty"`
	Command    *[]string `json:"command,omitempty"`
	// Env is KEY=VALUE in order (env files first, then the environment);
	// a later entry for the same key wins.
	Env        []string          `json:"env,omitempty"`
	WorkingDir string            `json:"working_dir,omitempty"`
	Hostname   string            `json:"hostname,omitempty"`
	Domainname string            `json:"domainname,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	Tty        bool              `json:"tty,omitempty"`
	StdinOpen  bool              `json:"stdin_open,omitempty"`
	ReadOnly   bool              `json:"read_only,omitempty"`
	Init       *bool             `json:"init,omitempty"`
	StopSignal string            `json:"stop_signal,omitempty"`
	Sysctls    map[string]string `json:"sysctls,omitempty"`
	DNS        []string          `json:"dns,omitempty"`
	DNSSearch  []string          `json:"dns_search,omitempty"`
	DNSOptions []string          `json:"dns_options,omitempty"`
	GroupAdd   []string          `json:"group_add,omitempty"`
	// ExtraHosts are "HOST:ADDRESS" entries for /etc/hosts.
	ExtraHosts []string `json:"extra_hosts,omitempty"`
	Ulimits    []Ulimit `json:"ulimits,omitempty"`
	// ShmSize and Memory are bytes, NanoCPUs billionths of a CPU; 0 is
	// unset.
	ShmSize     int64  `json:"shm_size,omitempty"`
	Memory      int64  `json:"memory,omitempty"`
	NanoCPUs    int64  `json:"nano_cpus,omitempty"`
	PidsLimit   *int64 `json:"pids_limit,omitempty"`
	OomScoreAdj *int   `json:"oom_score_adj,omitempty"`
	// Ports are the published ports as written; Restart the restart
	// policy. A verb that runs trials leaves both out, and says so.
	Ports   []Word `json:"ports,omitempty"`
	Restart string `json:"restart,omitempty"`
	// Unmodelled are settings the source read that change how the
	// container runs but that this model does not carry (a compose
	// secret, --volumes-from, a second network), each as written with its
	// position: a verb that must reproduce the container refuses rather
	// than start something else.
	Unmodelled []Word `json:"unmodelled,omitempty"`
}

// Ulimit is one resource limit.
type Ulimit struct {
	Name string `json:"name"`
	Soft int64  `json:"soft"`
	Hard int64  `json:"hard"`
}

// Uncertainty is one reason a workload's configuration is not fully known.
type Uncertainty struct {
	// Reason says what capdrop could not see, in words: "the arguments
	// of "$@" are decided when the script runs".
	Reason string   `json:"reason"`
	Pos    Position `json:"position"`
}

// ExplicitSets are the five sets as an OCI runtime spec writes them.
type ExplicitSets struct {
	Bounding    []Word `json:"bounding"`
	Effective   []Word `json:"effective"`
	Permitted   []Word `json:"permitted"`
	Inheritable []Word `json:"inheritable"`
	Ambient     []Word `json:"ambient"`
}

// Error is a problem reading a source: the file and, when known, where in
// it. A source that returns an Error for one document or line still returns
// the workloads it could read from the rest.
type Error struct {
	Pos Position
	Err error
	// Warning marks input that is fine but was not (wholly) audited: a
	// patch outside any build, a template nobody renders, a command in
	// prose that is not shell, a chart whose dependencies are not
	// vendored. Without it the Error is real breakage: a file that cannot
	// be read or does not parse.
	Warning bool
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %v", e.Pos, e.Err) }

// Warnf returns a warning about pos.
func Warnf(pos Position, format string, args ...any) *Error {
	return &Error{Pos: pos, Err: fmt.Errorf(format, args...), Warning: true}
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Texts returns the Text of each word.
func Texts(ws []Word) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Text
	}
	return out
}
