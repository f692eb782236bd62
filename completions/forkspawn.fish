# fish completion for forkspawn
complete -c forkspawn -f
complete -c forkspawn -n __fish_use_subcommand -l help -d 'Print usage'
complete -c forkspawn -n __fish_use_subcommand -l version -d 'Print the version'
complete -c forkspawn -n __fish_use_subcommand -a check -d 'Validate a spec and print the normalized tree'
complete -c forkspawn -n '__fish_seen_subcommand_from check' -F -a '(__fish_complete_suffix .json)'
