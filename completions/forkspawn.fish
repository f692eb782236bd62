# SPDX-License-Identifier: MIT
# fish completion for forkspawn
set -l commands run check backends schema plot ctl
complete -c forkspawn -f
complete -c forkspawn -n __fish_use_subcommand -l help -d 'Print usage'
complete -c forkspawn -n __fish_use_subcommand -l version -d 'Print the version'
complete -c forkspawn -n __fish_use_subcommand -a run -d 'Run the tree in a spec (the default command)'
complete -c forkspawn -n __fish_use_subcommand -a check -d 'Validate a spec and print the normalized tree'
complete -c forkspawn -n __fish_use_subcommand -a backends -d 'List the spawn backends'
complete -c forkspawn -n __fish_use_subcommand -a schema -d 'Print the JSON Schema of the spec format'
complete -c forkspawn -n __fish_use_subcommand -a plot -d "Draw a run's json or jsonl report as an SVG timeline"
complete -c forkspawn -n __fish_use_subcommand -a ctl -d 'Talk to a running forkspawn through its control socket'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -F -a '(__fish_complete_suffix .json)'
complete -c forkspawn -n "__fish_seen_subcommand_from check" -F -a '(__fish_complete_suffix .json)'
complete -c forkspawn -n "__fish_seen_subcommand_from plot" -F
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l spawn-backend -x -a 'subint_forkserver main_thread_forkserver trio mp_forkserver' -d 'How actors are spawned'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l cgroup -x -a 'auto on off' -d 'Contain each actor in a cgroup v2'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l report -x -a 'table json jsonl none' -d 'Report format'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l report-file -r -F -d 'Write the report to a file'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l stop -x -d 'Default stop sequence, e.g. SIGTERM,1.6s,SIGKILL'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l timeout -x -d 'Cancel the whole tree after a duration'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l output -x -a 'prefix inherit null' -d 'Default handling of actor output'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -s j -l max-running -x -d 'At most N children of the root running at once'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -l control -r -F -d 'Serve the control socket at a path (forkspawn ctl)'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -s v -l verbose -d 'More lifecycle log'
complete -c forkspawn -n "not __fish_seen_subcommand_from check backends schema plot ctl" -s q -l quiet -d 'Less lifecycle log'
complete -c forkspawn -n "__fish_seen_subcommand_from backends" -l json -d 'Print JSON'

# forkspawn ctl SOCKET COMMAND [ARGS]: the socket, then a command.
function __forkspawn_ctl_args
    # The words after `ctl` on the command line, the one being typed excluded.
    set -l tokens (commandline -opc)
    set -l i (contains -i -- ctl $tokens); or return 1
    set -e tokens[1..$i]
    printf '%s\n' $tokens
end
function __forkspawn_ctl_needs_socket
    set -l args (__forkspawn_ctl_args); or return 1
    test (count $args) -eq 0
end
function __forkspawn_ctl_needs_command
    set -l args (__forkspawn_ctl_args); or return 1
    test (count $args) -eq 1
end
function __forkspawn_ctl_command_is
    set -l args (__forkspawn_ctl_args); or return 1
    test (count $args) -ge 2; and contains -- $args[2] $argv
end
# The actors of a running forkspawn, from its status table.
function __forkspawn_ctl_actors
    set -l args (__forkspawn_ctl_args); or return
    forkspawn ctl $args[1] status 2>/dev/null | string match -rv '^(PATH|up) ' | string replace -r ' .*' ''
end
complete -c forkspawn -n __forkspawn_ctl_needs_socket -F -d 'Control socket (run --control=PATH)'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a status -d 'The live tree: state of every actor'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a stop -d 'Stop actors with their stop sequence'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a start -d 'Start ended or stopped actors again'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a restart -d 'Stop actors and start them again at once'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a signal -d 'Send a signal to an actor'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a cancel -d 'Cancel the whole tree, as SIGTERM would'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a wait -d 'Wait until actors have ended, or are ready'
complete -c forkspawn -n __forkspawn_ctl_needs_command -a events -d 'Stream the jsonl events until the tree ends'
complete -c forkspawn -n "__forkspawn_ctl_command_is status" -l json -d 'Print the reply as JSON'
complete -c forkspawn -n "__forkspawn_ctl_command_is wait" -l ready -d 'Wait until they are ready'
complete -c forkspawn -n "__forkspawn_ctl_command_is stop start restart signal wait" -a '(__forkspawn_ctl_actors)' -d 'Actor'
complete -c forkspawn -n "__forkspawn_ctl_command_is signal" -a 'HUP INT QUIT TERM KILL USR1 USR2 STOP CONT WINCH' -d 'Signal'
