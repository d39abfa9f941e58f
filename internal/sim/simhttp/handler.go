package simhttp

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/stateful-aws/stateful/internal/sim"
)

// InstanceHeader names the simulated instance an IMDS request comes from,
// for callers that do not come from the instance's own address.
const InstanceHeader = "X-Stateful-Sim-Instance-Id"

// maxBody bounds a request body; AWS allows far less for these actions.
const maxBody = 1 << 20

type operation func(ctx context.Context, form url.Values) (any, error)

// Handler serves an engine over HTTP.
type Handler struct {
	e      *sim.Engine
	log    *slog.Logger
	asOps  map[string]operation
	ec2Ops map[string]operation
	iamOps map[string]operation
	imds   *imdsServer
	limits Limits
}

// New returns the HTTP face of e.
func New(e *sim.Engine, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	as, ec, im := e.AutoScaling(), e.EC2(), e.IAM()
	return &Handler{
		e: e, log: log, limits: DefaultLimits(),
		imds: &imdsServer{e: e},
		asOps: map[string]operation{
			"CreateAutoScalingGroup":              op(awsQuery, as.CreateAutoScalingGroup),
			"UpdateAutoScalingGroup":              op(awsQuery, as.UpdateAutoScalingGroup),
			"DescribeAutoScalingGroups":           op(awsQuery, as.DescribeAutoScalingGroups),
			"DescribeAutoScalingInstances":        op(awsQuery, as.DescribeAutoScalingInstances),
			"DescribeScalingActivities":           op(awsQuery, as.DescribeScalingActivities),
			"DescribeLifecycleHooks":              op(awsQuery, as.DescribeLifecycleHooks),
			"PutLifecycleHook":                    op(awsQuery, as.PutLifecycleHook),
			"CompleteLifecycleAction":             op(awsQuery, as.CompleteLifecycleAction),
			"RecordLifecycleActionHeartbeat":      op(awsQuery, as.RecordLifecycleActionHeartbeat),
			"TerminateInstanceInAutoScalingGroup": op(awsQuery, as.TerminateInstanceInAutoScalingGroup),
			"SetInstanceHealth":                   op(awsQuery, as.SetInstanceHealth),
			"SuspendProcesses":                    op(awsQuery, as.SuspendProcesses),
			"ResumeProcesses":                     op(awsQuery, as.ResumeProcesses),
			"CreateOrUpdateTags":                  op(awsQuery, as.CreateOrUpdateTags),
			"DeleteTags":                          op(awsQuery, as.DeleteTags),
			"CreateLaunchConfiguration":           op(awsQuery, as.CreateLaunchConfiguration),
			"DescribeLaunchConfigurations":        op(awsQuery, as.DescribeLaunchConfigurations),
			"EnterStandby":                        op(awsQuery, as.EnterStandby),
			"ExitStandby":                         op(awsQuery, as.ExitStandby),
			"DetachInstances":                     op(awsQuery, as.DetachInstances),
		},
		ec2Ops: map[string]operation{
			"CreateVpc":                      op(ec2Query, ec.CreateVpc),
			"CreateSubnet":                   op(ec2Query, ec.CreateSubnet),
			"CreateNetworkInterface":         op(ec2Query, ec.CreateNetworkInterface),
			"DescribeNetworkInterfaces":      op(ec2Query, ec.DescribeNetworkInterfaces),
			"CreateVolume":                   op(ec2Query, ec.CreateVolume),
			"DescribeVolumes":                op(ec2Query, ec.DescribeVolumes),
			"AttachVolume":                   op(ec2Query, ec.AttachVolume),
			"DetachVolume":                   op(ec2Query, ec.DetachVolume),
			"CreateLaunchTemplate":           op(ec2Query, ec.CreateLaunchTemplate),
			"CreateLaunchTemplateVersion":    op(ec2Query, ec.CreateLaunchTemplateVersion),
			"ModifyLaunchTemplate":           op(ec2Query, ec.ModifyLaunchTemplate),
			"DescribeLaunchTemplates":        op(ec2Query, ec.DescribeLaunchTemplates),
			"DescribeLaunchTemplateVersions": op(ec2Query, ec.DescribeLaunchTemplateVersions),
			"DescribeInstances":              op(ec2Query, ec.DescribeInstances),
			"TerminateInstances":             op(ec2Query, ec.TerminateInstances),
			"StopInstances":                  op(ec2Query, ec.StopInstances),
			"DescribeSubnets":                op(ec2Query, ec.DescribeSubnets),
			"CreateTags":                     op(ec2Query, ec.CreateTags),
			"DeleteTags":                     op(ec2Query, ec.DeleteTags),
		},
		iamOps: map[string]operation{
			"PutRolePolicy": op(iamQuery, im.PutRolePolicy),
		},
	}
}

// op adapts an SDK-shaped method to form values in and an output struct out.
func op[I, O, Opt any](p *protocol, f func(context.Context, *I, ...func(*Opt)) (*O, error)) operation {
	return func(ctx context.Context, form url.Values) (any, error) {
		in := new(I)
		if err := decode(p, form, in); err != nil {
			return nil, err
		}
		return f(ctx, in)
	}
}

// noResult are the Auto Scaling operations whose model has no output
// shape: their response carries only ResponseMetadata.
var noResult = map[string]bool{"CreateAutoScalingGroup": true, "UpdateAutoScalingGroup": true, "SetInstanceHealth": true,
	"SuspendProcesses": true, "ResumeProcesses": true, "CreateOrUpdateTags": true, "DeleteTags": true,
	"CreateLaunchConfiguration": true, "PutRolePolicy": true}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/latest/") || r.URL.Path == "/latest" {
		h.imds.serve(w, r)
		return
	}
	reqID := newRequestID()
	w.Header().Set("X-Amzn-Requestid", reqID)
	if strings.HasPrefix(r.Header.Get("X-Amz-Target"), ssmTarget) {
		h.serveSSM(w, r)
		return
	}
	if isSTS(r) {
		h.serveSTS(w, r, reqID)
		return
	}
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		writeError(w, ec2Query, reqID, &sim.APIError{Code: "InvalidHttpRequest", Message: "Only GET and POST requests are supported.", Status: http.StatusMethodNotAllowed})
		return
	}
	form, err := readForm(r)
	if err != nil {
		writeError(w, ec2Query, reqID, &sim.APIError{Code: "MalformedQueryString", Message: "The query string or body is malformed.", Status: 400})
		return
	}
	p := serviceOf(r, form)
	if api := wrongRegion(r, h.e.Region(), false); api != nil {
		writeError(w, p, reqID, api)
		return
	}
	if api := h.limits.check(p, form); api != nil {
		writeError(w, p, reqID, api)
		return
	}
	action := form.Get("Action")
	var ops map[string]operation
	switch p {
	case awsQuery:
		ops = h.asOps
	case ec2Query:
		ops = h.ec2Ops
	case iamQuery:
		ops = h.iamOps
	default:
		writeError(w, ec2Query, reqID, &sim.APIError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", action), Status: 400})
		return
	}
	if action == "" {
		writeError(w, p, reqID, &sim.APIError{Code: "MissingAction", Message: "The request must contain the parameter Action.", Status: 400})
		return
	}
	f, ok := ops[action]
	if !ok {
		writeError(w, p, reqID, &sim.APIError{Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", action), Status: 400})
		return
	}
	out, err := f(r.Context(), form)
	if err != nil {
		var api *sim.APIError
		var perr *paramError
		switch {
		case errors.As(err, &api):
		case errors.As(err, &perr):
			api = &sim.APIError{Code: perr.code, Message: perr.msg, Status: 400}
		default:
			h.log.Error("internal error", "action", action, "error", err)
			api = &sim.APIError{Code: "InternalError", Message: "An internal error has occurred.", Status: 500}
		}
		writeError(w, p, reqID, api)
		return
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	fmt.Fprintf(&b, `<%sResponse xmlns="%s">`, action, p.namespace)
	enc := &encoder{p: p, b: &b}
	v := reflect.ValueOf(out).Elem()
	if p == ec2Query {
		b.WriteString("<requestId>" + reqID + "</requestId>")
		enc.fields(v)
	} else {
		if !noResult[action] {
			b.WriteString("<" + action + "Result>")
			enc.fields(v)
			b.WriteString("</" + action + "Result>")
		}
		b.WriteString("<ResponseMetadata><RequestId>" + reqID + "</RequestId></ResponseMetadata>")
	}
	fmt.Fprintf(&b, "</%sResponse>", action)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	_, _ = io.WriteString(w, b.String())
}

func readForm(r *http.Request) (url.Values, error) {
	form, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			return nil, fmt.Errorf("request body unreadable or over %d bytes", maxBody)
		}
		more, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range more {
			form[k] = append(form[k], v...)
		}
	}
	return form, nil
}

// serviceOf tells Auto Scaling from EC2 by the SigV4 credential scope, or,
// unsigned, by the API version.
func serviceOf(r *http.Request, form url.Values) *protocol {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if _, scope, ok := strings.Cut(auth, "Credential="); ok {
			parts := strings.Split(strings.SplitN(scope, ",", 2)[0], "/")
			if len(parts) >= 5 {
				switch parts[3] {
				case "autoscaling":
					return awsQuery
				case "ec2":
					return ec2Query
				case "iam":
					return iamQuery
				}
			}
		}
	}
	switch form.Get("Version") {
	case "2011-01-01":
		return awsQuery
	case "2016-11-15":
		return ec2Query
	case "2010-05-08":
		return iamQuery
	}
	return nil
}

// writeError answers with AWS's error shape: awsQuery's ErrorResponse for
// Auto Scaling, ec2Query's Response/Errors otherwise (also when the service
// is unknown).
func writeError(w http.ResponseWriter, p *protocol, reqID string, e *sim.APIError) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if p == awsQuery {
		kind := "Sender"
		if e.Status >= 500 {
			kind = "Receiver"
		}
		fmt.Fprintf(&b, `<ErrorResponse xmlns="%s"><Error><Type>%s</Type>`, p.namespace, kind)
	} else {
		b.WriteString("<Response><Errors><Error>")
	}
	b.WriteString("<Code>")
	escape(&b, e.Code)
	b.WriteString("</Code><Message>")
	escape(&b, e.Message)
	b.WriteString("</Message></Error>")
	if p == awsQuery {
		b.WriteString("<RequestId>" + reqID + "</RequestId></ErrorResponse>")
		w.Header().Set("Content-Type", "text/xml")
	} else {
		b.WriteString("</Errors><RequestID>" + reqID + "</RequestID></Response>")
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	}
	w.WriteHeader(e.Status)
	_, _ = io.WriteString(w, b.String())
}

func newRequestID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
