# SPDX-License-Identifier: MIT
# bash completion for forkspawn
# The actors of a running forkspawn, from its status table (forkspawn ctl).
_forkspawn_ctl_actors() {
    forkspawn ctl "$1" status 2>/dev/null | awk 'NR > 1 && $1 != "up" { print $1 }'
}
_forkspawn() {
    local cur prev words cword
    _init_completion -s || return
    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            run|check|backends|schema|plot|ctl) cmd=${words[i]}; break ;;
        esac
    done
    local run_opts="--spawn-backend --cgroup --report --report-file --stop --timeout --output --max-running -j --control --verbose --quiet -v -q --help"
    case $prev in
        --spawn-backend)
            COMPREPLY=($(compgen -W "subint_forkserver main_thread_forkserver trio mp_forkserver" -- "$cur")); return ;;
        --cgroup)
            COMPREPLY=($(compgen -W "auto on off" -- "$cur")); return ;;
        --report)
            COMPREPLY=($(compgen -W "table json jsonl none" -- "$cur")); return ;;
        --output)
            COMPREPLY=($(compgen -W "prefix inherit null" -- "$cur")); return ;;
        --report-file|--control)
            _filedir; return ;;
        --stop|--timeout|--max-running|-j)
            return ;;
    esac
    case $cmd in
        "")
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--help --version $run_opts" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "run check backends schema plot ctl" -- "$cur"))
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
        schema)
            COMPREPLY=($(compgen -W "--help" -- "$cur"))
            ;;
        plot)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--help" -- "$cur"))
            else
                _filedir '@(json|jsonl)'
            fi
            ;;
        ctl)
            # forkspawn ctl SOCKET COMMAND [ARGS]
            local n=$((cword - i)) socket=${words[i + 1]} sub=${words[i + 2]}
            if [[ $cur == -* ]]; then
                case $n,$sub in
                    1,*|2,*) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
                    *,status) COMPREPLY=($(compgen -W "--json --help" -- "$cur")) ;;
                    *,wait) COMPREPLY=($(compgen -W "--ready --help" -- "$cur")) ;;
                    *) COMPREPLY=($(compgen -W "--help" -- "$cur")) ;;
                esac
                return
            fi
            if ((n == 1)); then
                _filedir
            elif ((n == 2)); then
                COMPREPLY=($(compgen -W "status stop start restart signal cancel wait events" -- "$cur"))
            else
                case $sub in
                    stop|start|restart|wait)
                        COMPREPLY=($(compgen -W "$(_forkspawn_ctl_actors "$socket")" -- "$cur")) ;;
                    signal)
                        if ((n == 3)); then
                            COMPREPLY=($(compgen -W "$(_forkspawn_ctl_actors "$socket")" -- "$cur"))
                        elif ((n == 4)); then
                            COMPREPLY=($(compgen -W "HUP INT QUIT TERM KILL USR1 USR2 STOP CONT WINCH" -- "$cur"))
                        fi
                        ;;
                esac
            fi
            ;;
    esac
}
complete -F _forkspawn forkspawn
