package main

import (
	"flag"
	"os"
)

// keystoneCreds are the password credentials a load command logs in with.
type keystoneCreds struct {
	authURL, username, password, project string
	userDomain, projectDomain            string
}

// addFlags defines the credential flags every command shares, with the
// OS_* variables of an openrc file as defaults.
func (k *keystoneCreds) addFlags(fs *flag.FlagSet, authURL, projectHelp string) {
	fs.StringVar(&k.authURL, "auth-url", envOr("OS_AUTH_URL", authURL), "identity endpoint, with or without /v3 [$OS_AUTH_URL]")
	fs.StringVar(&k.username, "username", envOr("OS_USERNAME", "admin"), "user name [$OS_USERNAME]")
	fs.StringVar(&k.password, "password", envOr("OS_PASSWORD", ""), "password [$OS_PASSWORD]")
	fs.StringVar(&k.project, "project", envOr("OS_PROJECT_NAME", "admin"), projectHelp+" [$OS_PROJECT_NAME]")
	fs.StringVar(&k.userDomain, "user-domain", envOr("OS_USER_DOMAIN_NAME", "Default"), "domain name of the user [$OS_USER_DOMAIN_NAME]")
	fs.StringVar(&k.projectDomain, "project-domain", envOr("OS_PROJECT_DOMAIN_NAME", "Default"), "domain name of the project [$OS_PROJECT_DOMAIN_NAME]")
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
