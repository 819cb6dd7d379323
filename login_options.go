package oidcsession

// loginConfig holds the settings of the sign-in, sign-out and userinfo
// handlers. Its options live in this file.
type loginConfig struct{}
