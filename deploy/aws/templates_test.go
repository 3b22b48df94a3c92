// Package aws holds vpcflow's CloudFormation templates. The test parses
// them with their short-form intrinsic tags and checks their references
// and IAM policies, so that a broken template fails without cfn-lint or an
// AWS account.
package aws

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var intrinsics = map[string]bool{
	"!Ref": true, "!Sub": true, "!GetAtt": true, "!If": true, "!Join": true, "!Not": true, "!Equals": true,
	"!And": true, "!Or": true, "!Condition": true, "!Select": true, "!Split": true, "!FindInMap": true,
	"!Base64": true, "!Cidr": true, "!GetAZs": true, "!ImportValue": true,
}

// template is a parsed template with the names it defines.
type template struct {
	file       string
	root       *yaml.Node
	params     map[string]bool
	resources  map[string]string // name → type
	conditions map[string]bool
	errs       []string
}

func (t *template) errorf(n *yaml.Node, format string, args ...any) {
	t.errs = append(t.errs, fmt.Sprintf("%s:%d: %s", t.file, n.Line, fmt.Sprintf(format, args...)))
}

// get returns the value of key in mapping m, or nil.
func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func keys(m *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			out[m.Content[i].Value] = m.Content[i+1]
		}
	}
	return out
}

func load(t *testing.T, file string) *template {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		t.Fatalf("%s: not YAML: %v", file, err)
	}
	root := doc.Content[0]
	tp := &template{file: file, root: root, params: map[string]bool{}, resources: map[string]string{}, conditions: map[string]bool{}}
	for name := range keys(get(root, "Parameters")) {
		tp.params[name] = true
	}
	for name, r := range keys(get(root, "Resources")) {
		tp.resources[name] = get(r, "Type").Value
	}
	for name := range keys(get(root, "Conditions")) {
		tp.conditions[name] = true
	}
	return tp
}

func (t *template) refOK(name string) bool {
	return t.params[name] || t.resources[name] != "" || strings.HasPrefix(name, "AWS::")
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

// walk checks every intrinsic function under n.
func (t *template) walk(n *yaml.Node) {
	if n == nil {
		return
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		if !intrinsics[n.Tag] {
			t.errorf(n, "unknown tag %s", n.Tag)
		}
		switch n.Tag {
		case "!Ref":
			if !t.refOK(n.Value) {
				t.errorf(n, "!Ref %s: no such parameter or resource", n.Value)
			}
		case "!GetAtt":
			res, _, _ := strings.Cut(n.Value, ".")
			if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
				res = n.Content[0].Value
			}
			if t.resources[res] == "" {
				t.errorf(n, "!GetAtt %s: no such resource", res)
			}
		case "!Sub":
			s := n
			if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
				s = n.Content[0]
			}
			for _, m := range subVar.FindAllStringSubmatch(s.Value, -1) {
				name, _, _ := strings.Cut(m[1], ".")
				if !t.refOK(name) {
					t.errorf(n, "!Sub ${%s}: no such parameter or resource", m[1])
				}
			}
		case "!If":
			if n.Kind != yaml.SequenceNode || len(n.Content) != 3 {
				t.errorf(n, "!If takes [condition, then, else]")
			} else if !t.conditions[n.Content[0].Value] {
				t.errorf(n, "!If %s: no such condition", n.Content[0].Value)
			}
		case "!Condition":
			if !t.conditions[n.Value] {
				t.errorf(n, "!Condition %s: no such condition", n.Value)
			}
		}
	}
	for _, c := range n.Content {
		t.walk(c)
	}
}

// policies returns every policy document (a mapping with Statement) under n.
func policies(n *yaml.Node, out *[]*yaml.Node) {
	if n == nil {
		return
	}
	if n.Kind == yaml.MappingNode && get(n, "Statement") != nil {
		*out = append(*out, n)
	}
	for _, c := range n.Content {
		policies(c, out)
	}
}

// scalars lists the plain values of a string or list node.
func scalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, scalars(c)...)
	}
	return out
}

// checkPolicy enforces least privilege on one statement list.
func (t *template) checkPolicy(doc *yaml.Node) {
	if v := get(doc, "Version"); v == nil || v.Value != "2012-10-17" {
		t.errorf(doc, "policy document without Version 2012-10-17")
	}
	stmts := get(doc, "Statement")
	for _, s := range stmts.Content {
		if s.Tag == "!If" && len(s.Content) == 3 { // conditional statement
			for _, branch := range s.Content[1:] {
				if branch.Kind == yaml.MappingNode {
					t.checkStatement(branch)
				}
			}
			continue
		}
		t.checkStatement(s)
	}
}

func (t *template) checkStatement(s *yaml.Node) {
	effect := get(s, "Effect")
	if effect == nil || (effect.Value != "Allow" && effect.Value != "Deny") {
		t.errorf(s, "statement without Effect Allow or Deny")
		return
	}
	actions := scalars(get(s, "Action"))
	if len(actions) == 0 {
		t.errorf(s, "statement without Action")
	}
	if get(s, "Resource") == nil && get(s, "Principal") == nil {
		t.errorf(s, "statement with neither Resource nor Principal")
	}
	if effect.Value != "Allow" {
		return
	}
	for _, a := range actions {
		if a == "*" || strings.HasSuffix(a, ":*") {
			t.errorf(s, "Allow of wildcard action %q", a)
		}
	}
	if r := get(s, "Resource"); r != nil && slices.Contains(scalars(r), "*") {
		// Only actions without resource-level permissions may use "*".
		for _, a := range actions {
			if a != "ec2:DescribeNetworkInterfaces" {
				t.errorf(s, "Allow of %s on Resource \"*\"", a)
			}
		}
	}
}

func TestTemplates(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("templates: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			tp := load(t, f)
			if v := get(tp.root, "AWSTemplateFormatVersion"); v == nil || v.Value != "2010-09-09" {
				t.Errorf("AWSTemplateFormatVersion missing or not 2010-09-09")
			}
			if get(tp.root, "Description") == nil {
				t.Errorf("no Description")
			}
			if len(tp.resources) == 0 {
				t.Fatal("no Resources")
			}
			for name, r := range keys(get(tp.root, "Resources")) {
				if !strings.HasPrefix(tp.resources[name], "AWS::") {
					t.Errorf("resource %s: type %q", name, tp.resources[name])
				}
				if c := get(r, "Condition"); c != nil && !tp.conditions[c.Value] {
					tp.errorf(c, "resource %s: no such condition %s", name, c.Value)
				}
				for _, d := range scalars(get(r, "DependsOn")) {
					if tp.resources[d] == "" {
						tp.errorf(r, "resource %s depends on unknown %s", name, d)
					}
				}
			}
			tp.walk(tp.root)
			var docs []*yaml.Node
			policies(get(tp.root, "Resources"), &docs)
			for _, d := range docs {
				tp.checkPolicy(d)
			}
			for _, e := range tp.errs {
				t.Error(e)
			}
		})
	}
}

// TestTemplateContracts checks what the chart and the docs rely on.
func TestTemplateContracts(t *testing.T) {
	for _, tc := range []struct {
		file      string
		resources []string // types that must be present
		outputs   []string
		actions   []string // actions some Allow statement must grant
	}{
		{"flowlogs-s3-sqs.yaml",
			[]string{"AWS::EC2::FlowLog", "AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::IAM::ManagedPolicy"},
			[]string{"QueueUrl", "DeadLetterQueueUrl", "ReaderPolicyArn"},
			[]string{"s3:GetObject", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}},
		{"cwl-kinesis.yaml",
			[]string{"AWS::Kinesis::Stream", "AWS::Logs::SubscriptionFilter", "AWS::DynamoDB::Table", "AWS::IAM::ManagedPolicy"},
			[]string{"StreamName", "LeaseTableName", "ReaderPolicyArn"},
			[]string{"kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards", "kinesis:PutRecord",
				"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"}},
		{"vpcflow-role.yaml",
			[]string{"AWS::IAM::Role"},
			[]string{"RoleArn"},
			[]string{"ec2:DescribeNetworkInterfaces", "sts:AssumeRole"}},
		{"eni-reader-cross-account.yaml",
			[]string{"AWS::IAM::Role"},
			[]string{"RoleArn"},
			[]string{"ec2:DescribeNetworkInterfaces", "sts:AssumeRole"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			tp := load(t, tc.file)
			var types []string
			for _, ty := range tp.resources {
				types = append(types, ty)
			}
			for _, want := range tc.resources {
				if !slices.Contains(types, want) {
					t.Errorf("no %s resource", want)
				}
			}
			outs := keys(get(tp.root, "Outputs"))
			for _, o := range tc.outputs {
				if outs[o] == nil {
					t.Errorf("no output %s", o)
				}
			}
			var docs []*yaml.Node
			policies(get(tp.root, "Resources"), &docs)
			granted := map[string]bool{}
			for _, d := range docs {
				var stmts []*yaml.Node
				for _, s := range get(d, "Statement").Content {
					if s.Tag == "!If" && len(s.Content) == 3 {
						stmts = append(stmts, s.Content[1])
					} else {
						stmts = append(stmts, s)
					}
				}
				for _, s := range stmts {
					if e := get(s, "Effect"); e != nil && e.Value == "Allow" {
						for _, a := range scalars(get(s, "Action")) {
							granted[a] = true
						}
					}
				}
			}
			for _, a := range tc.actions {
				if !granted[a] {
					t.Errorf("no Allow of %s", a)
				}
			}
		})
	}
}
