package sim

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// ServiceSSM is Systems Manager: Parameter Store's GetParameter, for the
// agent's secret node files.
const ServiceSSM = "ssm"

// parameter is one Parameter Store value.
type parameter struct {
	typ      ssmtypes.ParameterType
	value    string
	version  int64
	modified time.Time
}

// SSMAPI is the engine's Systems Manager face.
type SSMAPI struct{ e *Engine }

// SSM returns the engine's Systems Manager API.
func (e *Engine) SSM() *SSMAPI { return &SSMAPI{e} }

// PutParameter stores a parameter (the set-up a user does with the console
// or CLI): a String, or a SecureString that GetParameter returns decrypted
// only WithDecryption. A second put of the same name is a new version.
func (a *SSMAPI) PutParameter(ctx context.Context, in *ssm.PutParameterInput, _ ...func(*ssm.Options)) (*ssm.PutParameterOutput, error) {
	return run(ctx, a.e, ServiceSSM, "PutParameter", in, func(in *ssm.PutParameterInput) (*ssm.PutParameterOutput, error) {
		e := a.e
		name := aws.ToString(in.Name)
		if name == "" || in.Value == nil {
			return nil, apiErr("ValidationException", "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must not be null")
		}
		typ := in.Type
		if typ == "" {
			typ = ssmtypes.ParameterTypeString
		}
		if e.params == nil {
			e.params = map[string]parameter{}
		}
		old, exists := e.params[name]
		if exists && !aws.ToBool(in.Overwrite) {
			return nil, apiErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		p := parameter{typ: typ, value: aws.ToString(in.Value), version: old.version + 1, modified: e.now()}
		e.params[name] = p
		return &ssm.PutParameterOutput{Version: p.version, Tier: ssmtypes.ParameterTierStandard}, nil
	})
}

// GetParameter answers as Parameter Store does: by name or ARN, a
// SecureString decrypted only WithDecryption (otherwise its ciphertext, an
// opaque base64 blob), ParameterNotFound for an unknown name.
func (a *SSMAPI) GetParameter(ctx context.Context, in *ssm.GetParameterInput, _ ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	return run(ctx, a.e, ServiceSSM, "GetParameter", in, func(in *ssm.GetParameterInput) (*ssm.GetParameterOutput, error) {
		e := a.e
		name := aws.ToString(in.Name)
		if i := strings.Index(name, ":parameter"); strings.HasPrefix(name, "arn:") && i >= 0 {
			name = name[i+len(":parameter"):]
		}
		p, ok := e.params[name]
		if !ok {
			p, ok = e.params[strings.TrimPrefix(name, "/")]
		}
		if !ok {
			return nil, apiErr("ParameterNotFound", "")
		}
		value := p.value
		if p.typ == ssmtypes.ParameterTypeSecureString && !aws.ToBool(in.WithDecryption) {
			sum := sha256.Sum256([]byte(e.cfg.Account + name + p.value))
			value = "AQICAH" + base64.StdEncoding.EncodeToString(sum[:])
		}
		arnName := name
		if !strings.HasPrefix(arnName, "/") {
			arnName = "/" + arnName
		}
		return &ssm.GetParameterOutput{Parameter: &ssmtypes.Parameter{
			Name: aws.String(name), Type: p.typ, Value: aws.String(value), Version: p.version,
			ARN:      aws.String("arn:aws:ssm:" + e.cfg.Region + ":" + e.cfg.Account + ":parameter" + arnName),
			DataType: aws.String("text"), LastModifiedDate: aws.Time(p.modified),
		}}, nil
	})
}
