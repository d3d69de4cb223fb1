# Trainyard's test training program, run by busybox sh as the test image's ENTRYPOINT:
#   ENTRYPOINT ["/bin/sh", "/usr/local/bin/train-entry.sh"]   CMD ["train"]
# One image covers every test: the job's environment picks the behaviour, so tests (and
# end-to-end runs through the SageMaker API) only vary Environment, never the image.
#
#   TRAINYARD_TEST_BEHAVIOUR  complete (default) | fail | fail-with-file | trap-term |
#                             ignore-term | sleep | dump | chatty | ticker | long-line
#
# "ready" is printed once signal traps are installed, so a test can wait for it before
# sending SIGTERM (a signal that arrives earlier would hit PID 1's default disposition,
# which the kernel ignores for a namespace's init).

behaviour="${TRAINYARD_TEST_BEHAVIOUR:-complete}"

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
    mkdir -p /opt/ml/output
    printf '%s' "${TRAINYARD_TEST_FAILURE_TEXT:-the test algorithm failed on purpose}" \
        > /opt/ml/output/failure
    echo "failing with a failure file"
    exit 1
    ;;
trap-term)
    # `sleep & wait` rather than a plain `sleep`: the shell runs a trap only between
    # commands, and `wait` is interrupted by a trapped signal, so the handler runs at once.
    trap 'mkdir -p /opt/ml/model; echo saved > /opt/ml/model/saved-on-sigterm; echo "got SIGTERM"; exit 0' TERM
    echo ready
    sleep 1000 &
    wait $!
    echo "slept without a signal"
    exit 0
    ;;
ignore-term)
    trap 'echo "ignoring SIGTERM"' TERM
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
    env | sort > /opt/ml/model/env.txt
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
*)
    echo "unknown TRAINYARD_TEST_BEHAVIOUR: $behaviour" >&2
    exit 2
    ;;
esac
