package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Metadata answers an IMDS path (relative to /latest/, for example
// "meta-data/instance-id") for an instance, as the instance would see it.
// ok is false where IMDS answers 404.
func (e *Engine) Metadata(instanceID, path string) (value string, ok bool) {
	e.Do(func() { value, ok = e.metadata(instanceID, strings.Trim(path, "/")) })
	return value, ok
}

func (e *Engine) metadata(id, path string) (string, bool) {
	i := e.w.instances[id]
	if i == nil || i.State == ec2Terminated {
		return "", false
	}
	switch path {
	case "meta-data/instance-id":
		return i.ID, true
	case "meta-data/instance-type":
		return i.Type, true
	case "meta-data/ami-id":
		return i.ImageID, true
	case "meta-data/local-ipv4":
		return i.IP, i.IP != ""
	case "meta-data/mac":
		return i.MAC, i.MAC != ""
	case "meta-data/placement/availability-zone":
		return i.AZ, true
	case "meta-data/placement/region":
		return e.cfg.Region, true
	case "meta-data/autoscaling/target-lifecycle-state":
		return i.Target, i.Target != ""
	case "user-data":
		b, err := base64.StdEncoding.DecodeString(i.UserData)
		return string(b), err == nil && i.UserData != ""
	case "dynamic/instance-identity/document":
		doc, _ := json.MarshalIndent(map[string]any{
			"accountId": e.cfg.Account, "architecture": "x86_64", "availabilityZone": i.AZ, "imageId": i.ImageID,
			"instanceId": i.ID, "instanceType": i.Type, "pendingTime": i.LaunchTime.UTC().Format(isoSeconds),
			"privateIp": i.IP, "region": e.cfg.Region, "version": "2017-09-30",
		}, "", "  ")
		return string(doc), true
	}
	if mac, rest, ok := strings.Cut(strings.TrimPrefix(path, "meta-data/network/interfaces/macs/"), "/"); ok && mac == i.MAC && rest == "interface-id" {
		return i.ENI, true
	}
	return "", false
}

// IMDS is the metadata service of one instance, in process (awsapi.IMDS).
type IMDS struct {
	Engine     *Engine
	InstanceID string
}

// GetMetadata answers like imds.Client.GetMetadata, with the same error
// shape for a missing item (HTTP 404).
func (m IMDS) GetMetadata(ctx context.Context, in *imds.GetMetadataInput, _ ...func(*imds.Options)) (*imds.GetMetadataOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, ok := m.Engine.Metadata(m.InstanceID, "meta-data/"+strings.TrimPrefix(in.Path, "/"))
	if !ok {
		return nil, &NotFoundError{Path: in.Path}
	}
	return &imds.GetMetadataOutput{Content: io.NopCloser(strings.NewReader(v))}, nil
}

// NotFoundError is IMDS's 404.
type NotFoundError struct{ Path string }

func (e *NotFoundError) Error() string { return "imds: " + e.Path + " not found (404)" }

// HTTPStatusCode matches the status accessor of the SDK's HTTP errors.
func (e *NotFoundError) HTTPStatusCode() int { return 404 }
