package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// apiError is an AWS error as a service returns it: the HTTP status, the
// code the SDK exposes through smithy.APIError, and a message.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

// errf builds an apiError with a formatted message.
func errf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// asAPIError turns any handler error into an apiError, so an unexpected
// failure still reaches the client in the service's error shape.
func asAPIError(err error, internalCode string) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return &apiError{Status: http.StatusInternalServerError, Code: internalCode, Message: err.Error()}
}

// newRequestID returns a random UUID, the form AWS request IDs take.
func newRequestID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randomHex returns n random lowercase hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// awsTime formats t the way the query protocols do.
func awsTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// epochSeconds formats t the way JSON 1.1 timestamps travel.
func epochSeconds(t time.Time) float64 {
	return float64(t.UnixMilli()) / 1000
}

// writeXML writes an XML response body with the request ID header.
func writeXML(w http.ResponseWriter, status int, requestID string, v any) {
	b, err := xml.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-RequestId", requestID)
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	w.Write(b)
}

// writeJSON writes a JSON 1.1 response body.
func writeJSON(w http.ResponseWriter, status int, requestID string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", requestID)
	w.WriteHeader(status)
	w.Write(b)
}

// jsonError is the JSON 1.1 error body. AWS omits the message for some
// codes, such as InvocationDoesNotExist, so it is optional here too.
type jsonError struct {
	Type    string `json:"__type"`
	Message string `json:"message,omitempty"`
}

func writeJSONError(w http.ResponseWriter, requestID string, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	writeJSON(w, e.Status, requestID, jsonError{Type: e.Code, Message: e.Message})
}

// ec2ErrorResponse is EC2's error body.
type ec2ErrorResponse struct {
	XMLName   xml.Name `xml:"Response"`
	Code      string   `xml:"Errors>Error>Code"`
	Message   string   `xml:"Errors>Error>Message"`
	RequestID string   `xml:"RequestID"`
}

func writeEC2Error(w http.ResponseWriter, requestID string, e *apiError) {
	writeXML(w, e.Status, requestID, ec2ErrorResponse{Code: e.Code, Message: e.Message, RequestID: requestID})
}

// queryErrorResponse is the error body of STS, IAM and the other query
// protocol services.
type queryErrorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	Xmlns     string   `xml:"xmlns,attr,omitempty"`
	Type      string   `xml:"Error>Type"`
	Code      string   `xml:"Error>Code"`
	Message   string   `xml:"Error>Message"`
	RequestID string   `xml:"RequestId"`
}

func writeQueryError(w http.ResponseWriter, requestID, xmlns string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	writeXML(w, e.Status, requestID, queryErrorResponse{
		Xmlns: xmlns, Type: typ, Code: e.Code, Message: e.Message, RequestID: requestID,
	})
}

// form reads the parameters of a query protocol request.
type form struct{ url.Values }

// list returns the values of prefix.1, prefix.2, ... in order.
func (f form) list(prefix string) []string {
	var out []string
	for _, i := range f.indices(prefix) {
		if v := f.Get(prefix + "." + strconv.Itoa(i)); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// indices returns the sorted N of every key that is prefix.N or starts with
// prefix.N. — the members of a query protocol list.
func (f form) indices(prefix string) []int {
	seen := map[int]bool{}
	for k := range f.Values {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		if n, err := strconv.Atoi(num); err == nil {
			seen[n] = true
		}
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// filter is one EC2 Filter.N entry.
type filter struct {
	Name   string
	Values []string
}

// filters returns the Filter.N.Name / Filter.N.Value.M entries.
func (f form) filters() []filter {
	var out []filter
	for _, i := range f.indices("Filter") {
		p := "Filter." + strconv.Itoa(i)
		out = append(out, filter{Name: f.Get(p + ".Name"), Values: f.list(p + ".Value")})
	}
	return out
}

// boolean reads a true/false parameter.
func (f form) boolean(key string) bool { return strings.EqualFold(f.Get(key), "true") }

// matchAny reports whether v matches one of the filter patterns, with EC2's
// wildcards: * for any run of characters and ? for one.
func matchAny(patterns []string, v string) bool {
	for _, p := range patterns {
		if globMatch(p, v) {
			return true
		}
	}
	return false
}

func globMatch(p, v string) bool {
	for len(p) > 0 {
		switch p[0] {
		case '*':
			for i := len(v); i >= 0; i-- {
				if globMatch(p[1:], v[i:]) {
					return true
				}
			}
			return false
		case '?':
			if v == "" {
				return false
			}
			p, v = p[1:], v[1:]
		default:
			if v == "" || p[0] != v[0] {
				return false
			}
			p, v = p[1:], v[1:]
		}
	}
	return v == ""
}
