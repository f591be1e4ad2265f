from services.runner.service import main

main()
