package sim

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ServiceSSM is Systems Manager's Parameter Store: the agent's secret node
// files, and the cluster's lock and failure marks (internal/lock).
const ServiceSSM = "ssm"

// parameter is one Parameter Store parameter: its versions, oldest first.
// Parameter Store keeps the 100 newest and numbers them from 1; a
// parameter deleted and created again starts over at 1 (its history goes
// with it).
type parameter struct {
	typ      ssmtypes.ParameterType
	versions []paramVersion
}

type paramVersion struct {
	value    string
	version  int64
	modified time.Time
}

func (p *parameter) latest() paramVersion { return p.versions[len(p.versions)-1] }

// maxParamVersions is how many versions Parameter Store keeps: "After you
// have created 100 versions of a parameter, each time you create a new
// version, the oldest version of the parameter is removed from history".
const maxParamVersions = 100

// SSMAPI is the engine's Systems Manager face.
type SSMAPI struct{ e *Engine }

// SSM returns the engine's Systems Manager API.
func (e *Engine) SSM() *SSMAPI { return &SSMAPI{e} }

// PutParameter stores a parameter: a String, or a SecureString that
// GetParameter returns decrypted only WithDecryption. Without Overwrite a
// name that exists is ParameterAlreadyExists and nothing changes: a real
// create-if-absent, atomic with every other write of the name. With
// Overwrite it is a new version, numbered one more than the last.
func (a *SSMAPI) PutParameter(ctx context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return run(ctx, a.e, ServiceSSM, "PutParameter", in, func(in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
		e := a.e
		name := aws.ToString(in.Name)
		if name == "" || in.Value == nil {
			return nil, apiErr("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must not be null")
		}
		if len(*in.Value) > 4096 {
			return nil, apiErr("ValidationException", "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier.")
		}
		typ := in.Type
		if typ == "" {
			typ = ssmtypes.ParameterTypeString
		}
		p, exists := e.w.params[name]
		if exists && !aws.ToBool(in.Overwrite) {
			return nil, apiErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		if !exists {
			p = &parameter{typ: typ}
			e.w.params[name] = p
		}
		next := int64(1)
		if len(p.versions) > 0 {
			next = p.latest().version + 1
		}
		p.typ = typ
		p.versions = append(p.versions, paramVersion{value: aws.ToString(in.Value), version: next, modified: e.now()})
		if len(p.versions) > maxParamVersions {
			p.versions = p.versions[len(p.versions)-maxParamVersions:]
		}
		return &ssm.PutParameterOutput{Version: next, Tier: ssmtypes.ParameterTierStandard}, nil
	})
}

// DeleteParameter deletes a parameter with all its versions;
// ParameterNotFound when there is none. Parameter Store has no conditional
// delete: it deletes whatever the parameter holds.
func (a *SSMAPI) DeleteParameter(ctx context.Context, in *ssm.DeleteParameterInput, _ ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error) {
	return run(ctx, a.e, ServiceSSM, "DeleteParameter", in, func(in *ssm.DeleteParameterInput) (*ssm.DeleteParameterOutput, error) {
		name := aws.ToString(in.Name)
		if _, ok := a.e.w.params[name]; !ok {
			return nil, apiErr("ParameterNotFound", "")
		}
		delete(a.e.w.params, name)
		return &ssm.DeleteParameterOutput{}, nil
	})
}

// GetParameter answers as Parameter Store does: by name or ARN, optionally
// with a version selector ("name:3": ParameterVersionNotFound when that
// version is not kept), a SecureString decrypted only WithDecryption
// (otherwise its ciphertext, an opaque base64 blob), ParameterNotFound for
// an unknown name. Reads lag writes as every read of the engine does under
// SetStaleReads: AWS does not say how consistent Parameter Store's reads
// are.
func (a *SSMAPI) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return run(ctx, a.e, ServiceSSM, "GetParameter", in, func(in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		e := a.e
		name := aws.ToString(in.Name)
		if i := strings.Index(name, ":parameter"); strings.HasPrefix(name, "arn:") && i >= 0 {
			name = name[i+len(":parameter"):]
		}
		var want int64
		if i := strings.LastIndex(name, ":"); i >= 0 {
			n, err := strconv.ParseInt(name[i+1:], 10, 64)
			if err != nil || n < 1 {
				return nil, apiErr("ValidationException", "Invalid parameter selector %q: give a version number (labels are not simulated)", name[i+1:])
			}
			name, want = name[:i], n
		}
		w := e.readWorld()
		p, ok := w.params[name]
		if !ok {
			p, ok = w.params[strings.TrimPrefix(name, "/")]
		}
		if !ok {
			return nil, apiErr("ParameterNotFound", "")
		}
		v := p.latest()
		if want > 0 {
			found := false
			for _, pv := range p.versions {
				if pv.version == want {
					v, found = pv, true
				}
			}
			if !found {
				return nil, apiErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", want, name)
			}
		}
		value := v.value
		if p.typ == ssmtypes.ParameterTypeSecureString && !aws.ToBool(in.WithDecryption) {
			sum := sha256.Sum256([]byte(e.cfg.Account + name + v.value))
			value = "AQICAH" + base64.StdEncoding.EncodeToString(sum[:])
		}
		arnName := name
		if !strings.HasPrefix(arnName, "/") {
			arnName = "/" + arnName
		}
		out := &ssmtypes.Parameter{
			Name: aws.String(name), Type: p.typ, Value: aws.String(value), Version: v.version,
			ARN:      aws.String("arn:aws:ssm:" + e.cfg.Region + ":" + e.cfg.Account + ":parameter" + arnName),
			DataType: aws.String("text"), LastModifiedDate: aws.Time(v.modified),
		}
		if want > 0 {
			out.Selector = aws.String(":" + strconv.FormatInt(want, 10))
		}
		return &ssm.GetParameterOutput{Parameter: out}, nil
	})
}
