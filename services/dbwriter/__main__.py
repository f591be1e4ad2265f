from services.dbwriter.service import main

main()
