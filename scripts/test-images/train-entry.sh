# Trainyard's test training program, run by busybox sh as the test image's ENTRYPOINT:
#   ENTRYPOINT ["/bin/sh", "/usr/local/bin/train-entry.sh"]   CMD ["train"]
# One image covers every test: the job's environment picks the behaviour, so tests (and
# end-to-end runs through the SageMaker API) only vary Environment, never the image.
#
#   TRAINYARD_TEST_BEHAVIOUR  complete (default) | fail | fail-with-file | trap-term |
#                             ignore-term | sleep | dump | chatty | ticker | long-line | big-model
#   TRAINYARD_TEST_DELAY_SECONDS  sleep this long before the behaviour runs (e.g. to let a
#                             container exit while the server is down, in recovery tests)
#   TRAINYARD_TEST_TIMESTAMPS 1: print "timestamp start <us>" at start and "timestamp sigterm <us>"
#                             when a SIGTERM handler runs (microseconds since the epoch, read
#                             with adjtimex: busybox's date has no %N), and append the same lines
#                             to /opt/ml/model/timestamps.txt, for benchmarks (scripts/bench/).
#
# "ready" is printed once signal traps are installed, so a test can wait for it before
# sending SIGTERM (a signal that arrives earlier would hit PID 1's default disposition,
# which the kernel ignores for a namespace's init).

behaviour="${TRAINYARD_TEST_BEHAVIOUR:-complete}"

# Microseconds since the epoch. adjtimex(2) with no modes only reads the clock, so it needs no
# capability; it is the only busybox applet here that shows the time below one second.
now_us() {
    adjtimex | awk '/time.tv_sec/ { s = $2 } /time.tv_usec/ { u = $2 } END { printf "%d%06d\n", s, u }'
}

# Records an event time (only when TRAINYARD_TEST_TIMESTAMPS=1, so handlers stay fast otherwise).
stamp() {
    [ "${TRAINYARD_TEST_TIMESTAMPS:-}" = 1 ] || return 0
    line="timestamp $1 $(now_us)"
    echo "$line"
    mkdir -p /opt/ml/model
    echo "$line" >> /opt/ml/model/timestamps.txt
}

stamp start
if [ -n "${TRAINYARD_TEST_DELAY_SECONDS:-}" ]; then
    sleep "$TRAINYARD_TEST_DELAY_SECONDS"
fi

case "$behaviour" in
complete)
    echo "starting training (args: $*)"
    mkdir -p /opt/ml/model /opt/ml/output/data
    for epoch in 1 2 3; do
        case $epoch in 1) loss=0.9 ;; 2) loss=0.7 ;; 3) loss=0.5 ;; esac
        echo "epoch=$epoch loss=$loss"
    done
    echo "trained model" > /opt/ml/model/model.txt
    echo "output data" > /opt/ml/output/data/output.txt
    echo "a line on stderr" >&2
    echo "training complete"
    exit 0
    ;;
fail)
    code="${TRAINYARD_TEST_EXIT_CODE:-3}"
    echo "failing with exit code $code"
    exit "$code"
    ;;
fail-with-file)
    mkdir -p /opt/ml/output /opt/ml/model /opt/ml/output/data
    if [ -n "${TRAINYARD_TEST_FAILURE_LENGTH:-}" ]; then
        # A failure text longer than an Environment value may be (512): "0123456789" repeated.
        yes 0123456789 | tr -d '\n' | head -c "$TRAINYARD_TEST_FAILURE_LENGTH" > /opt/ml/output/failure
    else
        printf '%s' "${TRAINYARD_TEST_FAILURE_TEXT:-the test algorithm failed on purpose}" \
            > /opt/ml/output/failure
    fi
    # Artifacts of a failed job are still uploaded (SDK local mode does; sagemaker-semantics §2.3).
    echo "partial model" > /opt/ml/model/partial.txt
    echo "partial output" > /opt/ml/output/data/partial.txt
    echo "failing with a failure file"
    exit 1
    ;;
trap-term)
    # `sleep & wait` rather than a plain `sleep`: the shell runs a trap only between
    # commands, and `wait` is interrupted by a trapped signal, so the handler runs at once.
    trap 'stamp sigterm; mkdir -p /opt/ml/model; echo saved > /opt/ml/model/saved-on-sigterm; echo "got SIGTERM"; exit 0' TERM
    echo ready
    sleep 1000 &
    wait $!
    echo "slept without a signal"
    exit 0
    ;;
ignore-term)
    # The SIGTERM is also noted in /opt/ml/model, so a test can see it from the uploaded model.
    trap 'stamp sigterm; echo "ignoring SIGTERM"; mkdir -p /opt/ml/model; echo "ignored SIGTERM" >> /opt/ml/model/sigterm-ignored' TERM
    echo ready
    while :; do
        sleep 1000 &
        pid=$!
        wait $pid
        kill $pid 2>/dev/null
    done
    ;;
sleep)
    echo ready
    sleep "${TRAINYARD_TEST_SLEEP_SECONDS:-3600}"
    echo "slept ${TRAINYARD_TEST_SLEEP_SECONDS:-3600}s"
    exit 0
    ;;
dump)
    echo "ARGS=$*"
    echo "HOSTNAME=$(hostname)"
    env | sort | sed 's/^/ENV /'
    ls -la /opt/ml 2>&1
    if [ -d /opt/ml/input/config ]; then
        for f in /opt/ml/input/config/*; do
            [ -f "$f" ] || continue
            echo "== $f"
            cat "$f"
            echo
        done
    fi
    mkdir -p /opt/ml/model
    if [ -d /opt/ml/input/config ]; then
        cp /opt/ml/input/config/* /opt/ml/model/ 2>/dev/null
    fi
    ls -laR /opt/ml/input/data > /opt/ml/model/input-data-listing.txt 2>&1
    echo "$*" > /opt/ml/model/args.txt
    # One argument per line, so a test can tell ["a b"] from ["a", "b"].
    echo "$#" > /opt/ml/model/argc.txt
    for arg in "$@"; do echo "$arg"; done > /opt/ml/model/argv.txt
    env | sort > /opt/ml/model/env.txt
    hostname > /opt/ml/model/hostname.txt
    cat /proc/mounts > /opt/ml/model/mounts.txt
    ls /sys/class/net > /opt/ml/model/net-interfaces.txt 2>&1
    df -k /dev/shm > /opt/ml/model/shm-df.txt 2>&1
    ls -1 /opt/ml > /opt/ml/model/opt-ml-listing.txt 2>&1
    ls -1 /opt/ml/code > /opt/ml/model/code-listing.txt 2>&1
    # Channel files by path, each with its content (small test files).
    (cd /opt/ml/input/data 2>/dev/null && find . -type f | sort | while read -r f; do
        echo "$f: $(cat "$f")"
    done) > /opt/ml/model/input-data-files.txt
    exit 0
    ;;
chatty)
    # seq + sed instead of a shell loop: as fast as busybox can print.
    seq 1 "${TRAINYARD_TEST_LINES:-1000}" | sed 's/^/line /'
    exit 0
    ;;
ticker)
    # A line every TRAINYARD_TEST_TICK_SECONDS (default 0.2) for TRAINYARD_TEST_TICKS (default 5) lines.
    i=1
    while [ "$i" -le "${TRAINYARD_TEST_TICKS:-5}" ]; do
        echo "tick $i"
        i=$((i + 1))
        sleep "${TRAINYARD_TEST_TICK_SECONDS:-0.2}"
    done
    exit 0
    ;;
long-line)
    # One line of TRAINYARD_TEST_LINE_LENGTH 'x's: longer than 16 KiB, Docker's json-file
    # driver stores it as several partial messages that a log reader must join again.
    echo "before"
    head -c "${TRAINYARD_TEST_LINE_LENGTH:-40000}" /dev/zero | tr '\0' x
    echo
    echo "after"
    exit 0
    ;;
big-model)
    # TRAINYARD_TEST_MODEL_MB (default 64) MiB of incompressible data in /opt/ml/model, so that
    # packing model.tar.gz (Uploading) takes a noticeable moment.
    mkdir -p /opt/ml/model
    head -c "$((${TRAINYARD_TEST_MODEL_MB:-64} * 1048576))" /dev/urandom > /opt/ml/model/weights.bin
    echo "big model written"
    exit 0
    ;;
*)
    echo "unknown TRAINYARD_TEST_BEHAVIOUR: $behaviour" >&2
    exit 2
    ;;
esac
