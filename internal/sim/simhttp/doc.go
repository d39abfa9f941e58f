// Package simhttp serves the simulator over HTTP in the AWS wire protocols:
// Auto Scaling in awsQuery, EC2 in ec2Query (both form-encoded POSTs to /
// answered in XML, with AWS's result and error shapes), and IMDSv2 under
// /latest/. The unmodified AWS SDK for Go v2 and the AWS CLI work against it
// with an endpoint override.
package simhttp

//go:generate go run ./internal/wiregen
