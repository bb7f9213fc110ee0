#!/usr/bin/env bash
# Java 17 for the Spark engine (pyspark 4.3 runs its JVM on Java 17 or newer): Debian's
# openjdk-17-jre-headless where no java of that age is on PATH (or under JAVA_HOME).
# Idempotent: does nothing when a Java >= 17 is there. Needs root and apt-get; without them it
# exits 3 and says what to install.
set -euo pipefail

java_major() {
  local java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
  command -v "$java" >/dev/null 2>&1 || return 1
  # `java -version` prints e.g. openjdk version "17.0.15" 2025-04-15 (or "1.8.0_402" for Java 8)
  "$java" -version 2>&1 | sed -n 's/.* version "\([0-9]*\)\.\([0-9]*\).*/\1 \2/p' | head -n1 |
    awk '{ print ($1 == 1) ? $2 : $1 }'
}

have_java17() {
  local major
  major="$(java_major)" || return 1
  [ -n "$major" ] && [ "$major" -ge 17 ]
}

have_java17 && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the Spark engine needs Java 17 and apt-get is not available: install a Java 17 runtime (Debian/Ubuntu: openjdk-17-jre-headless) and put java on PATH or set JAVA_HOME" >&2
  exit 3
fi
if [ "$(id -u)" != "0" ]; then
  echo "the Spark engine needs Java 17 and installing it needs root: run 'apt-get install openjdk-17-jre-headless' as root" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
# Two set-ups may ask at once: one installs, the other waits for it.
exec 9>/tmp/tierflow-ensure-java.lock
flock 9
have_java17 && exit 0
# The JRE's post-install step links man pages; slim images lack the folder.
mkdir -p /usr/share/man/man1
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
unset JAVA_HOME
have_java17
