package simhttp

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

const stsNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"

// isSTS tells an STS request by its SigV4 credential scope (the SDKs and
// the AWS CLI always sign it).
func isSTS(r *http.Request) bool {
	_, scope, ok := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	if !ok {
		return false
	}
	parts := strings.Split(strings.SplitN(scope, ",", 2)[0], "/")
	return len(parts) >= 5 && parts[3] == "sts"
}

// serveSTS answers STS's awsQuery protocol for GetCallerIdentity; any other
// action gets STS's own InvalidAction.
func (h *Handler) serveSTS(w http.ResponseWriter, r *http.Request, reqID string) {
	form, err := readForm(r)
	if err != nil {
		writeSTSError(w, reqID, "MalformedQueryString", "The query string or body is malformed.", 400)
		return
	}
	action := form.Get("Action")
	if action != "GetCallerIdentity" {
		writeSTSError(w, reqID, "InvalidAction", fmt.Sprintf("Could not find operation %s for version 2011-06-15", action), 400)
		return
	}
	out, err := h.e.STS().GetCallerIdentity(r.Context(), nil)
	if err != nil {
		writeSTSError(w, reqID, "InternalFailure", "An internal error has occurred.", 500)
		return
	}
	var b strings.Builder
	b.WriteString(`<GetCallerIdentityResponse xmlns="` + stsNamespace + `"><GetCallerIdentityResult>`)
	enc := &encoder{b: &b}
	enc.leaf("Arn", aws.ToString(out.Arn))
	enc.leaf("UserId", aws.ToString(out.UserId))
	enc.leaf("Account", aws.ToString(out.Account))
	b.WriteString("</GetCallerIdentityResult><ResponseMetadata><RequestId>" + reqID + "</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
	w.Header().Set("Content-Type", "text/xml")
	_, _ = io.WriteString(w, b.String())
}

func writeSTSError(w http.ResponseWriter, reqID, code, msg string, status int) {
	var b strings.Builder
	b.WriteString(`<ErrorResponse xmlns="` + stsNamespace + `"><Error><Type>Sender</Type>`)
	enc := &encoder{b: &b}
	enc.leaf("Code", code)
	enc.leaf("Message", msg)
	b.WriteString("</Error><RequestId>" + reqID + "</RequestId></ErrorResponse>")
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, b.String())
}
