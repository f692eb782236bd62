# bash completion for forkspawn
_forkspawn() {
    local cur prev words cword
    _init_completion || return
    local commands="check"
    local i cmd=""
    for ((i = 1; i < cword; i++)); do
        case "${words[i]}" in
            check) cmd=${words[i]}; break ;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "--help --version" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$commands" -- "$cur"))
        fi
        return
    fi
    case $cmd in
        check)
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "--help" -- "$cur"))
            else
                _filedir json
                [[ $cur == "" || $cur == - ]] && COMPREPLY+=(-)
            fi
            ;;
    esac
}
complete -F _forkspawn forkspawn
