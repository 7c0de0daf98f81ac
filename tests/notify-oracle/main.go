// notify-oracle renders Ofelia's notification payloads with Go's own
// text/template, html/template, encoding/json and net/url, for fixed cases,
// so the C renderer (src/notify) can be compared byte for byte with what Go
// writes. The template functions follow netresearch/ofelia's documented
// behaviour (docs/webhooks.md); they are written here from that
// description. Usage: notify-oracle PRESETS_DIR OUT_DIR VERSION
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

type jobData struct{ Name, Command, Schedule, Type, Container string }

type execData struct {
	ID, Status        string
	Failed, Skipped   bool
	Duration          time.Duration
	Error             string
	Output, Stderr    string
	ExitCode          int
	StartTime, EndTime time.Time
}

type hostData struct {
	Hostname  string
	Timestamp time.Time
}

type ofeliaData struct{ Version string }

type presetData struct{ ID, Secret, URL, Link, LinkText, Device string }

type data struct {
	Job       jobData
	Execution execData
	Host      hostData
	Ofelia    ofeliaData
	Preset    presetData
}

// jsonInner escapes s for the inside of a JSON string: quote, backslash and
// control characters only.
func jsonInner(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}

var funcs = template.FuncMap{
	"json": jsonInner,
	"jsonRaw": func(v any) string {
		raw, _ := json.Marshal(v)
		return string(raw)
	},
	"truncate": func(n int, s string) string {
		if utf8.RuneCountInString(s) <= n {
			return s
		}
		count := 0
		for i := range s {
			if count == n {
				return s[:i] + "..."
			}
			count++
		}
		return s
	},
	"default": func(def, val string) string {
		if val == "" {
			return def
		}
		return val
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"title": func(s string) string {
		start := true
		return strings.Map(func(r rune) rune {
			out := unicode.ToLower(r)
			if start {
				out = unicode.ToUpper(r)
			}
			start = !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'')
			return out
		}, s)
	},
	"isoTime":        func(t time.Time) string { return t.Format(time.RFC3339) },
	"unixTime":       func(t time.Time) int64 { return t.Unix() },
	"formatDuration": func(d time.Duration) string { return d.String() },
}

func status(d *data) string {
	if d.Execution.Skipped {
		return "skipped"
	}
	if d.Execution.Failed {
		return "failed"
	}
	return "successful"
}

type slackAttachment struct {
	Color string `json:"color,omitempty"`
	Title string `json:"title,omitempty"`
	Text  string `json:"text"`
}

type slackMessage struct {
	Text        string            `json:"text"`
	Username    string            `json:"username"`
	Attachments []slackAttachment `json:"attachments"`
	IconURL     string            `json:"icon_url"`
}

func slack(d *data) string {
	m := slackMessage{Username: "Ofelia",
		IconURL: "https://raw.githubusercontent.com/netresearch/ofelia/master/static/avatar.png"}
	m.Text = fmt.Sprintf("Job *%q* finished in *%s*, command `%s`", d.Job.Name, d.Execution.Duration, d.Job.Command)
	switch {
	case d.Execution.Failed:
		m.Attachments = append(m.Attachments, slackAttachment{Title: "Execution failed", Text: d.Execution.Error, Color: "#F35A00"})
	case d.Execution.Skipped:
		m.Attachments = append(m.Attachments, slackAttachment{Title: "Execution skipped", Color: "#FFA500"})
	default:
		m.Attachments = append(m.Attachments, slackAttachment{Title: "Execution successful", Color: "#7CD197"})
	}
	content, _ := json.Marshal(m)
	v := url.Values{}
	v.Add("payload", string(content))
	return v.Encode()
}

type mailJob struct{ Name, Command string }

func (j mailJob) GetName() string    { return j.Name }
func (j mailJob) GetCommand() string { return j.Command }

type mailCtx struct {
	Job       mailJob
	Execution execData
}

func mail(d *data) (string, string) {
	f := htmltemplate.FuncMap{"status": func(e execData) string { return status(d) }}
	body := htmltemplate.Must(htmltemplate.New("mail-body").Funcs(f).Parse(`
		<p>
			Job <b>{{.Job.GetName}}</b>,
			Execution <b>{{status .Execution}}</b> in <b>{{.Execution.Duration}}</b>,
			command: <pre>{{.Job.GetCommand}}</pre>
		</p>
  `))
	ctx := mailCtx{mailJob{d.Job.Name, d.Job.Command}, d.Execution}
	var b bytes.Buffer
	if err := body.Execute(&b, ctx); err != nil {
		panic(err)
	}
	subject := fmt.Sprintf("[Execution %s] Job %s finished in %s", status(d), d.Job.Name, d.Execution.Duration)
	return subject, b.String()
}

type preset struct {
	Body string
}

func cases(version string) map[string]*data {
	start := time.Date(2026, 5, 15, 12, 0, 0, 500000000, time.UTC)
	dur := 1234567890 * time.Nanosecond
	now := time.Date(2026, 5, 15, 12, 0, 3, 0, time.UTC)
	base := func() *data {
		return &data{
			Job: jobData{Name: "backup", Command: "pg_dump -U postgres mydb > /backup/db.sql",
				Schedule: "@daily", Type: "exec", Container: "postgres"},
			Execution: execData{ID: "0b1c2d3e-4f50-4617-8899-aabbccddeeff", Duration: dur,
				StartTime: start, EndTime: start.Add(dur), Output: "dumped 12 tables\nsize: 3 MiB ü\n"},
			Host:   hostData{Hostname: "testhost", Timestamp: now},
			Ofelia: ofeliaData{Version: version},
			Preset: presetData{ID: "T000/B000", Secret: "s3cr3t", URL: "https://example.com/hook",
				LinkText: "View Details", Device: "iphone,desk top"},
		}
	}
	ok := base()
	ok.Execution.Status = "successful"
	failed := base()
	failed.Job.Name = `nightly "db" <dump> & co`
	failed.Execution.Failed = true
	failed.Execution.Status = "failed"
	failed.Execution.ExitCode = 2
	failed.Execution.Error = "exit status 2: \"disk full\"\n\tat /backup \x1b[31m<red>"
	failed.Execution.Stderr = strings.Repeat("é", 4100)
	failed.Preset.Link = "https://logs.example.com/?q=a&b=c"
	failed.Preset.LinkText = "Logs"
	skipped := base()
	skipped.Execution.Skipped = true
	skipped.Execution.Status = "skipped"
	skipped.Execution.Duration = 0
	skipped.Execution.EndTime = start
	return map[string]*data{"success": ok, "failed": failed, "skipped": skipped}
}

func write(dir, name, text string) {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
		panic(err)
	}
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: notify-oracle PRESETS_DIR OUT_DIR VERSION")
		os.Exit(2)
	}
	presets, out, version := os.Args[1], os.Args[2], os.Args[3]
	files, _ := filepath.Glob(filepath.Join(presets, "*.yaml"))
	for name, d := range cases(version) {
		for _, f := range files {
			p := readBody(f)
			t := template.Must(template.New("body").Funcs(funcs).Parse(p.Body))
			var b bytes.Buffer
			if err := t.Execute(&b, d); err != nil {
				panic(fmt.Sprintf("%s: %v", f, err))
			}
			write(out, strings.TrimSuffix(filepath.Base(f), ".yaml")+"."+name, b.String())
		}
		write(out, "slack-legacy."+name, slack(d))
		subject, body := mail(d)
		write(out, "mail-subject."+name, subject)
		write(out, "mail-body."+name, body)
	}
}

// readBody takes the block scalar under "body: |" of a preset file (the
// presets use no other YAML in their bodies).
func readBody(path string) preset {
	raw, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	lines := strings.Split(string(raw), "\n")
	var body []string
	in := false
	for _, l := range lines {
		if in {
			if l != "" && !strings.HasPrefix(l, "  ") {
				break
			}
			body = append(body, strings.TrimPrefix(l, "  "))
			continue
		}
		if strings.HasPrefix(l, "body: |") {
			in = true
		}
	}
	for len(body) > 0 && body[len(body)-1] == "" {
		body = body[:len(body)-1]
	}
	return preset{Body: strings.Join(body, "\n") + "\n"}
}
