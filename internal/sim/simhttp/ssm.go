package simhttp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/stateful-aws/stateful/internal/sim"
)

// ssmTarget prefixes the X-Amz-Target of Systems Manager's awsJson1.1
// requests: AmazonSSM.GetParameter.
const ssmTarget = "AmazonSSM."

// serveSSM answers Systems Manager's awsJson1.1 protocol: a JSON body in,
// a JSON body out, errors as {"__type", "message"}.
func (h *Handler) serveSSM(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), ssmTarget)
	if api := wrongRegion(r, h.e.Region(), true); api != nil {
		writeJSONError(w, api)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		writeJSONError(w, &sim.APIError{Code: "SerializationException", Message: "The request body is unreadable or too large.", Status: 400})
		return
	}
	api := h.e.SSM()
	var out any
	switch op {
	case "GetParameter":
		out, err = ssmCall(r.Context(), body, api.GetParameter, func(res *ssm.GetParameterOutput) any {
			p := res.Parameter
			m := map[string]any{
				"Name": aws.ToString(p.Name), "Type": string(p.Type), "Value": aws.ToString(p.Value), "Version": p.Version,
				"ARN": aws.ToString(p.ARN), "DataType": aws.ToString(p.DataType), "LastModifiedDate": float64(p.LastModifiedDate.UnixMilli()) / 1000,
			}
			if p.Selector != nil {
				m["Selector"] = *p.Selector
			}
			return map[string]any{"Parameter": m}
		})
	case "PutParameter":
		out, err = ssmCall(r.Context(), body, api.PutParameter, func(res *ssm.PutParameterOutput) any {
			return map[string]any{"Version": res.Version, "Tier": string(res.Tier)}
		})
	case "DeleteParameter":
		out, err = ssmCall(r.Context(), body, api.DeleteParameter, func(*ssm.DeleteParameterOutput) any { return map[string]any{} })
	default:
		writeJSONError(w, &sim.APIError{Code: "UnknownOperationException", Message: "", Status: 400})
		return
	}
	if err != nil {
		h.jsonFailure(w, op, err)
		return
	}
	b, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(b)
}

func (h *Handler) jsonFailure(w http.ResponseWriter, op string, err error) {
	var api *sim.APIError
	if !errors.As(err, &api) {
		h.log.Error("internal error", "action", op, "error", err)
		api = &sim.APIError{Code: "InternalServerError", Message: "An internal error has occurred.", Status: 500}
	}
	writeJSONError(w, api)
}

func writeJSONError(w http.ResponseWriter, e *sim.APIError) {
	b, _ := json.Marshal(map[string]string{"__type": e.Code, "message": e.Message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// ssmCall decodes one awsJson1.1 request, calls the engine and shapes its
// answer.
func ssmCall[I, O any](ctx context.Context, body []byte, call func(context.Context, *I, ...func(*ssm.Options)) (*O, error), shape func(*O) any) (any, error) {
	var in I
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &sim.APIError{Code: "SerializationException", Message: "The request body is not valid JSON.", Status: 400}
	}
	res, err := call(ctx, &in)
	if err != nil {
		return nil, err
	}
	return shape(res), nil
}
