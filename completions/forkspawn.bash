# bash completion for forkspawn
_forkspawn() {
    local cur prev words cword
    _init_completion -s || return
    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            run|check|backends) cmd=${words[i]}; break ;;
        esac
    done
    local run_opts="--spawn-backend --cgroup --report --report-file --stop --timeout --output --max-running -j --verbose --quiet -v -q --help"
    case $prev in
        --spawn-backend)
            COMPREPLY=($(compgen -W "subint_forkserver main_thread_forkserver trio mp_forkserver" -- "$cur")); return ;;
        --cgroup)
            COMPREPLY=($(compgen -W "auto on off" -- "$cur")); return ;;
        --report)
            COMPREPLY=($(compgen -W "table json jsonl none" -- "$cur")); return ;;
        --output)
            COMPREPLY=($(compgen -W "prefix inherit null" -- "$cur")); return ;;
        --report-file)
            _filedir; return ;;
        --stop|--timeout|--max-running|-j)
            return ;;
    esac
    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--help --version $run_opts" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "run check backends" -- "$cur"))
                _filedir json
            fi
            ;;
        run)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "$run_opts" -- "$cur"))
            else
                _filedir json
            fi
            ;;
        check)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--help" -- "$cur"))
            else
                _filedir json
            fi
            ;;
        backends)
            COMPREPLY=($(compgen -W "--json --help" -- "$cur"))
            ;;
    esac
}
complete -F _forkspawn forkspawn
