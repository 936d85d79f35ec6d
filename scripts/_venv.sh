# Sourced by scripts/demo and scripts/test: a virtual environment of the project's own, so
# neither command needs anything installed by hand, and both work where the system Python is
# "externally managed" (PEP 668: Debian's and Ubuntu's python3 refuse a bare `pip install`).

# make_venv DIR PYTHON PIP_ARGS...: create DIR with PYTHON unless it exists, then install.
make_venv() {
    local dir=$1 py=$2
    shift 2
    if [ ! -x "$dir/bin/python" ]; then
        echo "== creating a fresh virtual environment: $dir ($("$py" --version 2>&1))"
        if ! "$py" -m venv "$dir"; then
            echo "error: '$py -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
            return 1
        fi
    fi
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}
