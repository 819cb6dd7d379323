package oidcsession

import "strings"

// userAgentSummary names the browser and system of a User-Agent header in
// a few words ("Firefox on Linux"), for a list of a user's sessions. It is
// a hint for people, never a security check: the header is whatever the
// client says. Order matters: Edge and Opera also say Chrome, Chrome also
// says Safari, Android also says Linux.
func userAgentSummary(ua string) string {
	browser := pick(ua, "Unknown browser", []string{"Edg/", "Edge"}, []string{"OPR/", "Opera"},
		[]string{"Firefox/", "Firefox"}, []string{"Chrome/", "Chrome"}, []string{"Safari/", "Safari"}, []string{"curl/", "curl"})
	system := pick(ua, "", []string{"Android", "Android"}, []string{"iPhone", "iOS"}, []string{"iPad", "iPadOS"},
		[]string{"Windows", "Windows"}, []string{"Mac OS X", "macOS"}, []string{"CrOS", "ChromeOS"}, []string{"Linux", "Linux"})
	if system == "" {
		return browser
	}
	return browser + " on " + system
}

// pick returns the name of the first marker that ua contains, or def.
func pick(ua, def string, markers ...[]string) string {
	for _, m := range markers {
		if strings.Contains(ua, m[0]) {
			return m[1]
		}
	}
	return def
}
