from modelpick.cli import main

main()
