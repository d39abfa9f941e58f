// Package agent is the node agent: `stateful node bootstrap` claims the
// node's data volume, prepares it, writes the node's files, runs the
// user's node script and gates the launch lifecycle hook; `stateful node
// drain` hands the volume over at termination. Every step is idempotent, so
// a re-run after a reboot is safe.
package agent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ConfigVersion is the version of the config format this agent reads.
const ConfigVersion = 1

// Config is what the module's user data writes to /etc/stateful/node.json.
// The Terraform module builds the same object in HCL (local.agent_config);
// a test keeps the two in step.
type Config struct {
	Version       int      `json:"version"`
	Cluster       string   `json:"cluster"`
	NodeID        string   `json:"node_id"`
	NodeIP        string   `json:"node_ip"`
	Region        string   `json:"region"`
	ASGName       string   `json:"asg_name"`
	LaunchHook    string   `json:"launch_hook"`
	TerminateHook string   `json:"terminate_hook"`
	Volume        Volume   `json:"volume"`
	Files         []File   `json:"files"`
	Script        Script   `json:"script"`
	Timeouts      Timeouts `json:"timeouts"`
	// OnFailure is "abandon" (complete the hook with ABANDON at once) or
	// "hold" (leave the instance in Pending:Wait for debugging until the
	// hook times out).
	OnFailure string `json:"on_failure"`
}

// Volume says which EBS volume is the node's and how to mount it.
type Volume struct {
	// ID, when set, names the volume; otherwise the volume tagged with the
	// cluster and node id is the node's.
	ID             string   `json:"id"`
	DeviceHint     string   `json:"device_hint"` // the name requested at attach, /dev/sdf
	MountPath      string   `json:"mount_path"`
	FileSystem     string   `json:"file_system"` // ext4 | xfs
	MountOptions   []string `json:"mount_options"`
	Owner          string   `json:"owner"`
	Group          string   `json:"group"`
	RecursiveChown bool     `json:"recursive_chown"`
	// NoExec adds noexec; nosuid and nodev are always added: a previous
	// instance may have planted setuid binaries or device nodes.
	NoExec bool `json:"noexec"`
	// OfflineRepair lets the agent run e2fsck and resize2fs as root on an
	// ext4 filesystem the previous instance wrote (to grow it unmounted).
	// Off by default: a crafted filesystem can attack the root-run tools.
	OfflineRepair bool `json:"offline_repair"`
}

// File is a node file to write: its contents inline (base64), or a
// SecureString parameter of SSM Parameter Store the agent reads and
// decrypts (SSMParameter, a name or ARN), so that secrets never travel in
// user data.
type File struct {
	Path          string `json:"path"`
	ContentBase64 string `json:"content_base64"`
	SSMParameter  string `json:"ssm_parameter"`
	Mode          string `json:"mode"`  // octal, default "0600"
	Owner         string `json:"owner"` // user name or uid, default root
	Group         string `json:"group"` // group name or gid, default root
}

// Script is the user's node script: fetched from S3 first when S3URL is
// set, with the inline copy as the fallback.
type Script struct {
	InlineBase64 string `json:"inline_base64"`
	S3URL        string `json:"s3_url"`
	// The S3 copy runs as root: it must have this sha256 (hex), come from
	// a bucket the account S3ExpectedBucketOwner owns, and be the version
	// S3VersionID when that is set.
	S3SHA256              string `json:"s3_sha256"`
	S3ExpectedBucketOwner string `json:"s3_expected_bucket_owner"`
	S3VersionID           string `json:"s3_version_id"`
}

// Timeouts bound the agent's waits, in seconds.
type Timeouts struct {
	Command   int `json:"command_seconds"`   // the node script's two functions, together
	Volume    int `json:"volume_seconds"`    // a predecessor's release of the volume, and the attach
	Device    int `json:"device_seconds"`    // the block device appearing
	Heartbeat int `json:"heartbeat_seconds"` // between heartbeats of the launch hook
	// DrainHeartbeat: between heartbeats of the termination hook, whose
	// timeout is its own (a third of it, as for the launch hook).
	DrainHeartbeat int `json:"drain_heartbeat_seconds"`
}

// FileSystems are the file-system types the agent can create.
var FileSystems = []string{"ext4", "xfs"}

var (
	nodeIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	modePattern   = regexp.MustCompile(`^0?[0-7]{3,4}$`)
	ownerPattern  = regexp.MustCompile(`^[a-z_][a-z0-9_-]*[$]?$|^[0-9]+$`)

	// The mount path reaches fstab, whose fields are separated by spaces
	// and lines by newlines: safe characters only.
	mountPathPattern = regexp.MustCompile(`^(/[A-Za-z0-9._@+-]+)+$`)
	parameterPattern = regexp.MustCompile(`^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:[0-9]{12}:parameter)?/?[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$`)

	sha256Pattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	versionPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,1000}$`)
)

// ParseConfig reads and checks a config. It has no side effects; its
// errors name the field and what is allowed.
func ParseConfig(r io.Reader) (*Config, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("node config is not valid JSON of the expected shape: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks every field and fills defaults.
func (c *Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("node config: %s %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case c.Version != ConfigVersion:
		return bad("version", "is %d; this agent reads version %d", c.Version, ConfigVersion)
	case c.Cluster == "":
		return bad("cluster", "must be set")
	case !nodeIDPattern.MatchString(c.NodeID):
		return bad("node_id", "%q must be 1 to 63 letters, digits, dots, dashes or underscores", c.NodeID)
	case strings.HasSuffix(c.NodeID, "-root"):
		return bad("node_id", "%q may not end in -root: that suffix names the node's root volume in its node-id tag", c.NodeID)
	case c.Region == "":
		return bad("region", "must be set")
	case c.ASGName == "" || c.LaunchHook == "":
		return bad("asg_name and launch_hook", "must be set")
	case !mountPathPattern.MatchString(c.Volume.MountPath) || filepath.Clean(c.Volume.MountPath) != c.Volume.MountPath:
		return bad("volume.mount_path", "%q must be a clean absolute path other than / made of letters, digits and . _ @ + - (no spaces or newlines: it goes into fstab)", c.Volume.MountPath)
	case !slices.Contains(FileSystems, c.Volume.FileSystem):
		return bad("volume.file_system", "%q is not supported; use one of %s", c.Volume.FileSystem, strings.Join(FileSystems, ", "))
	case c.Volume.ID != "" && !strings.HasPrefix(c.Volume.ID, "vol-"):
		return bad("volume.id", "%q is not a volume ID (vol-...)", c.Volume.ID)
	case c.Volume.Owner != "" && !ownerPattern.MatchString(c.Volume.Owner):
		return bad("volume.owner", "%q is not a user name or uid", c.Volume.Owner)
	case c.Volume.Group != "" && !ownerPattern.MatchString(c.Volume.Group):
		return bad("volume.group", "%q is not a group name or gid", c.Volume.Group)
	case c.OnFailure != "abandon" && c.OnFailure != "hold" && c.OnFailure != "":
		return bad("on_failure", "%q must be abandon or hold", c.OnFailure)
	case c.Script.InlineBase64 == "" && c.Script.S3URL == "":
		return bad("script", "needs inline_base64 or s3_url")
	case c.Script.S3URL != "" && !strings.HasPrefix(c.Script.S3URL, "s3://"):
		return bad("script.s3_url", "%q must start with s3://", c.Script.S3URL)
	case c.Script.S3URL != "" && !sha256Pattern.MatchString(c.Script.S3SHA256):
		return bad("script.s3_sha256", "%q must be the 64 lowercase hex digits of the S3 script's SHA-256 (it runs as root)", c.Script.S3SHA256)
	case c.Script.S3URL != "" && !accountPattern.MatchString(c.Script.S3ExpectedBucketOwner):
		return bad("script.s3_expected_bucket_owner", "%q must be the 12-digit account ID that owns the script's bucket", c.Script.S3ExpectedBucketOwner)
	case c.Script.S3VersionID != "" && !versionPattern.MatchString(c.Script.S3VersionID):
		return bad("script.s3_version_id", "%q must be an S3 version ID (letters, digits, . _ -)", c.Script.S3VersionID)
	}
	for _, o := range c.Volume.MountOptions {
		if o == "" || strings.ContainsAny(o, ", \t\n\r\v\f#") {
			return bad("volume.mount_options", "%q must be one option without commas, spaces, tabs, newlines or #", o)
		}
		if o == "suid" || o == "dev" {
			return bad("volume.mount_options", "%q is refused: the data volume is always mounted nosuid,nodev", o)
		}
	}
	if _, err := base64.StdEncoding.DecodeString(c.Script.InlineBase64); err != nil {
		return bad("script.inline_base64", "is not base64: %v", err)
	}
	for i, f := range c.Files {
		field := fmt.Sprintf("files[%d]", i)
		if !filepath.IsAbs(f.Path) || filepath.Clean(f.Path) != f.Path || strings.HasSuffix(f.Path, "/") {
			return bad(field+".path", "%q must be a clean absolute file path", f.Path)
		}
		if _, err := base64.StdEncoding.DecodeString(f.ContentBase64); err != nil {
			return bad(field+".content_base64", "is not base64: %v", err)
		}
		if f.SSMParameter != "" && (f.ContentBase64 != "" || !parameterPattern.MatchString(f.SSMParameter)) {
			return bad(field+".ssm_parameter", "%q must be an SSM parameter name or ARN, and the file then has no content_base64", f.SSMParameter)
		}
		if f.Mode != "" && !modePattern.MatchString(f.Mode) {
			return bad(field+".mode", "%q must be an octal mode such as 0600", f.Mode)
		}
		if f.Owner != "" && !ownerPattern.MatchString(f.Owner) {
			return bad(field+".owner", "%q is not a user name or uid", f.Owner)
		}
		if f.Group != "" && !ownerPattern.MatchString(f.Group) {
			return bad(field+".group", "%q is not a group name or gid", f.Group)
		}
	}
	if c.OnFailure == "" {
		c.OnFailure = "abandon"
	}
	if c.Volume.DeviceHint == "" {
		c.Volume.DeviceHint = "/dev/sdf"
	}
	for _, t := range []struct {
		name string
		v    *int
		def  int
	}{{"command_seconds", &c.Timeouts.Command, 1800}, {"volume_seconds", &c.Timeouts.Volume, 900}, {"device_seconds", &c.Timeouts.Device, 300}, {"heartbeat_seconds", &c.Timeouts.Heartbeat, 60}, {"drain_heartbeat_seconds", &c.Timeouts.DrainHeartbeat, 60}} {
		if *t.v == 0 {
			*t.v = t.def
		}
		if *t.v < 1 || *t.v > 172800 {
			return bad("timeouts."+t.name, "%d must be between 1 and 172800", *t.v)
		}
	}
	return nil
}

// FileMode returns a file's mode, 0600 by default: node files may hold
// secrets, so only their owner reads them unless the config says so.
func (f File) FileMode() uint32 {
	if f.Mode == "" {
		return 0o600
	}
	m, _ := strconv.ParseUint(f.Mode, 8, 32)
	return uint32(m)
}
