package plancheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// howToMakeOne ends every "this is not a plan" error.
const howToMakeOne = "make one with: terraform plan -out plan.tfplan && terraform show -json plan.tfplan > plan.json"

// Parse reads plan JSON as a stream: only the resource changes are kept,
// one at a time, so memory stays bounded by the largest single change
// rather than the file (plans of large configurations run to hundreds of
// megabytes, mostly prior state and configuration, which are skipped).
func Parse(r io.Reader) (*Plan, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	if bytes.Equal(head, []byte("PK\x03\x04")) {
		return nil, fmt.Errorf("this is a binary plan file (terraform plan -out), not its JSON: convert it with terraform show -json PLANFILE > plan.json")
	}
	dec := json.NewDecoder(br)
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("this is not plan JSON (it is not a JSON object): %s", howToMakeOne)
	}
	var p Plan
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, notJSON(err)
		}
		key, _ := tok.(string)
		seen[key] = true
		switch key {
		case "format_version":
			if err := dec.Decode(&p.FormatVersion); err != nil {
				return nil, notJSON(err)
			}
		case "resource_changes":
			if err := decodeChanges(dec, &p); err != nil {
				return nil, err
			}
		default:
			if err := skip(dec); err != nil {
				return nil, notJSON(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, notJSON(err)
	}
	switch {
	case seen["values"] && !seen["planned_values"]:
		return nil, fmt.Errorf("this is Terraform state (terraform show -json without a plan file), not a plan: %s", howToMakeOne)
	case p.FormatVersion == "":
		return nil, fmt.Errorf("this JSON has no format_version, so it is not the output of terraform show -json: %s", howToMakeOne)
	case !strings.HasPrefix(p.FormatVersion, "1."):
		return nil, fmt.Errorf("plan JSON format_version %s is not supported (1.x is)", p.FormatVersion)
	case !seen["planned_values"]:
		return nil, fmt.Errorf("this JSON has no planned_values, so it is not a plan: %s", howToMakeOne)
	}
	return &p, nil
}

func decodeChanges(dec *json.Decoder, p *Plan) error {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return fmt.Errorf("plan JSON: resource_changes is not a list")
	}
	for dec.More() {
		var rc ResourceChange
		if err := dec.Decode(&rc); err != nil {
			return notJSON(err)
		}
		p.ResourceChanges = append(p.ResourceChanges, rc)
	}
	_, err := dec.Token()
	return notJSON(err)
}

// skip reads past the next value token by token, so a huge value (the
// prior state, the configuration) is never held in memory whole.
func skip(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

func notJSON(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("the plan JSON ends early (truncated file?): %s", howToMakeOne)
	}
	return fmt.Errorf("reading plan JSON: %w", err)
}
