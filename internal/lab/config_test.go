package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configDir writes a configuration into a temporary directory, MODULE in
// it standing for the relative path to this module.
func configDir(t *testing.T, tf string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, moduleAbs(t))
	if err != nil {
		t.Fatal(err)
	}
	tf = strings.ReplaceAll(tf, "MODULE", rel)
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tf), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func moduleAbs(t *testing.T) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// block is a module block with one node, its nodes and script expressions
// replaceable.
func block(t *testing.T, extra, nodes string) string {
	return `module "c" {
  source             = "MODULE"
  app_name           = "c"
  node_image         = "ami-0123456789abcdef0"
  instance_type      = "t3.micro"
  security_groups    = ["sg-1"]
  nodes              = ` + nodes + `
  node_files         = []
  node_config_script = base64encode("configure_cluster_node() { :; }")
  default_data_volume = { file_system_type = "ext4", mount_path = "/data", mount_path_owner_user = "root", mount_path_owner_group = "root", size_in_gibs = 1, type = "gp3", mount_params = [] }
}
` + extra
}

// TestConfigurationTheLabCannotEvaluate: each kind of expression the lab
// cannot evaluate is one sentence naming the file, the line, the
// expression, and how to give the value.
func TestConfigurationTheLabCannotEvaluate(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		tf   string
		vars []string
		want []string
	}{
		"resource reference": {
			tf: block(t, `resource "aws_subnet" "a" {
  vpc_id     = "vpc-1"
  cidr_block = "10.0.1.0/24"
}
`, `[{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = aws_subnet.a.id }]`),
			want: []string{"main.tf:7: the lab cannot evaluate `aws_subnet.a.id` in `[{ node_id", "it refers to the resource aws_subnet.a, which exists only once Terraform applies it; put the value in a variable and give it with -var"},
		},
		"unknown function": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = uuid(), node_subnet_id = "subnet-1" }]`),
			want: []string{"main.tf:7: the lab cannot evaluate `uuid()`: uuid is not a function it knows (it knows abs, alltrue,", "put the value in a variable and give it with -var"},
		},
		"missing variable": {
			tf: block(t, `variable "node_ip" {
  type = string
}
`, `[{ node_id = "00", node_ip = var.node_ip, node_subnet_id = "subnet-1" }]`),
			want: []string{"main.tf:12: variable \"node_ip\" has no default and no value: give it with -var 'node_ip=...' or in a .tfvars file"},
		},
		"data source the lab cannot read": {
			tf: block(t, `data "aws_ami" "debian" {
  owners = ["136693071363"]
}
`, `[{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = data.aws_ami.debian.id }]`),
			want: []string{"main.tf:7: the lab cannot evaluate `data.aws_ami.debian.id`", "it reads the data source aws_ami.debian, which the lab cannot read (it reads aws_caller_identity, aws_partition, aws_region, aws_subnet); put the value in a variable and give it with -var"},
		},
		"module output": {
			tf: block(t, `module "other" {
  source = "./other"
}
`, `[{ node_id = "00", node_ip = module.other.ip, node_subnet_id = "subnet-1" }]`),
			want: []string{"the lab cannot evaluate `module.other.ip`", "it reads an output of module other, which exists only once Terraform applies it; put the value in a variable and give it with -var"},
		},
		"the module's own validation": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-1" }, { node_id = "00", node_ip = "10.0.1.11", node_subnet_id = "subnet-1" }]`),
			want: []string{"variables.tf:", "invalid value for variable nodes: Two nodes share a node_id: every node_id must be unique."},
		},
		"an address of the lab's own": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = "10.0.250.10", node_subnet_id = "subnet-1" }]`),
			want: []string{"node_ip 10.0.250.10 overlaps the lab's own addresses 10.0.240.0/20 (its control plane and the simulator's endpoint): give the nodes other addresses (with -var)"},
		},
		"a public address": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = "8.8.8.8", node_subnet_id = "subnet-1" }]`),
			want: []string{"node_ip 8.8.8.8 is not a private IPv4 address: the lab runs nodes on private addresses only (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"},
		},
		"subnets no VPC holds": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = "172.31.0.10", node_subnet_id = "subnet-1" }, { node_id = "01", node_ip = "192.168.1.10", node_subnet_id = "subnet-2" }]`),
			want: []string{"the configuration's subnets (subnet-1 172.31.0.0/24, subnet-2 192.168.1.0/24) lie in no one /16, so no VPC holds them all"},
		},
		"-var of an undeclared variable": {
			tf:   block(t, "", `[{ node_id = "00", node_ip = "10.0.1.10", node_subnet_id = "subnet-1" }]`),
			vars: []string{"nodes=3"},
			want: []string{"-var nodes=3: the configuration in", "declares no variable \"nodes\""},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := configDir(t, c.tf)
			_, err := Evaluate(Source{Dir: dir, Vars: c.vars, ModuleDir: "../.."}, BaseURL())
			if err == nil {
				t.Fatal("evaluated; want an error")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("the error is more than one line:\n%s", msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error\n  %s\nlacks\n  %s", msg, w)
				}
			}
		})
	}
}

// TestVariablesGiveTheNodes: -var and .tfvars values reach the module as
// Terraform gives them (a .tfvars file, then -var winning), and a node's
// subnet maps to a lab subnet holding its address.
func TestVariablesGiveTheNodes(t *testing.T) {
	t.Parallel()
	dir := configDir(t, block(t, `variable "ips" {
  type    = list(string)
  default = ["10.0.9.10"]
}
variable "volume" {
  type    = number
  default = 1
}
`, `[for i, ip in var.ips : { node_id = format("%02d", i), node_ip = ip, node_subnet_id = "subnet-${i}", node_data_disk = { size_in_gibs = tostring(var.volume) } }]`))
	if err := os.WriteFile(filepath.Join(dir, "terraform.tfvars"), []byte("ips = [\"10.0.1.10\", \"10.0.2.10\"]\nvolume = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Evaluate(Source{Dir: dir, Vars: []string{`ips=["10.0.3.10", "10.0.4.10", "10.0.5.10"]`}, ModuleDir: "../.."}, BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Nodes) != 3 || c.Name != "c" {
		t.Fatalf("cluster %s with %d nodes; want c with the -var's 3", c.Name, len(c.Nodes))
	}
	for i, n := range c.Nodes {
		if n.IP != []string{"10.0.3.10", "10.0.4.10", "10.0.5.10"}[i] || n.VolumeGiB != 5 || n.Group != "c-node-"+n.ID || n.LaunchHook != "c-node-asg-hook" || n.DrainHook != "" {
			t.Errorf("node %d: %+v", i, n)
		}
		if !strings.Contains(n.UserData, `"node_ip":"`+n.IP+`"`) || !strings.Contains(n.UserData, BaseURL()+"/v") {
			t.Errorf("node %s's user data lacks its IP or the lab's release URL", n.ID)
		}
	}
	for _, s := range c.Subnets {
		if s.CIDR.Bits() != 24 {
			t.Errorf("subnet %s mapped to %s; want the /24 of its node", s.ID, s.CIDR)
		}
	}
	if len(c.Mapped) == 0 || !strings.Contains(strings.Join(c.Mapped, "\n"), "security_groups: one bridge") {
		t.Errorf("mapped: %v", c.Mapped)
	}
}

// TestTheConfigurationsOwnAddresses: nodes at 172.31.x.x (the default
// VPC's range) run in the lab unchanged, in a VPC holding their subnets.
func TestTheConfigurationsOwnAddresses(t *testing.T) {
	t.Parallel()
	dir := configDir(t, block(t, "", `[for i in range(3) : { node_id = format("%02d", i), node_ip = "172.31.${16 * i}.10", node_subnet_id = "subnet-${i}" }]`))
	c, err := Evaluate(Source{Dir: dir, ModuleDir: "../.."}, BaseURL())
	if err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Nodes {
		if want := fmt.Sprintf("172.31.%d.10", 16*i); n.IP != want {
			t.Errorf("node %s at %s, want %s", n.ID, n.IP, want)
		}
		if nodeAddr(n.IP) != n.IP+"/32" {
			t.Errorf("node %s's address %s, want %s/32 on the bridge", n.ID, nodeAddr(n.IP), n.IP)
		}
	}
	if c.VPC.String() != "172.31.0.0/16" || len(c.Subnets) != 3 || c.Subnets[1].CIDR.String() != "172.31.16.0/24" {
		t.Errorf("VPC %s, subnets %v; want 172.31.0.0/16 holding the nodes' /24s", c.VPC, c.Subnets)
	}
	if nodeAddr("10.0.1.10") != "10.0.1.10/16" {
		t.Errorf("an address in the lab's own network keeps its netmask: %s", nodeAddr("10.0.1.10"))
	}
}

// TestLabHoldsNoApplication: the lab's code names no application, example,
// node script or node setting: they all come from the configuration.
func TestLabHoldsNoApplication(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		low := strings.ToLower(string(b))
		for _, word := range []string{"etcd", "zookeeper", "examples/", "node.sh", "/data", "2379", "2181", "ext4\"", "postgres", "kafka"} {
			if strings.Contains(low, word) {
				t.Errorf("%s names %q: the lab must take it from the configuration", f, word)
			}
		}
	}
}
